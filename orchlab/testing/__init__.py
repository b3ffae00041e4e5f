"""Test fakes, kept apart as the SDK keeps `agents.testing`: nothing in the product path
imports this package.

- `orchlab.testing.devserver`: an OpenAI-compatible server on 127.0.0.1 with a deterministic
  policy, configurable latency and injected faults.
- `orchlab.testing.scripted`: backends on `agents.testing.ScriptedModel`.
- `orchlab.testing.stores`: a real store whose saves a test can interrupt (a full disk, a
  cancel mid-commit, which thread commits).
- `orchlab.testing.recording`: a server on 127.0.0.1 that keeps every request (what a browser
  fetched, what an exporter sent).
- `orchlab.testing.simulate`: synthetic experiments with a known truth, read through the
  summary Compare shows (the statistics' calibration).
- `orchlab.testing.simulate_judges`: simulated judges with a known truth (quality scores,
  agreement with people's labels, pairwise verdicts), for the judge statistics' calibration.
"""
