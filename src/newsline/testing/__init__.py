"""The offline web: a replay server for capture corpora, corpus builders, the demo corpus."""
