# Differential tests (host CPU vs nvmx): see tests/diff/.
.PHONY: diff
diff:
