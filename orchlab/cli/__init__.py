"""The `orchlab` command: `parser` declares the arguments, `main` does what each command says."""
