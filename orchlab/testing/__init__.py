"""Test fakes, kept apart as the SDK keeps `agents.testing`: nothing in the product path
imports this package.

- `orchlab.testing.devserver`: an OpenAI-compatible server on 127.0.0.1 with a deterministic
  policy, configurable latency and injected faults.
- `orchlab.testing.scripted`: backends on `agents.testing.ScriptedModel`.
"""
