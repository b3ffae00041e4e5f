"""What people look at, computed without Streamlit: figures, the race, the HTML report."""
