# NVIDIA MIG (issue 8). No GPU in CI: the apply path runs against the nvidia-smi TEST DOUBLE
# (test/doubles/nvidia-smi-test-double.sh: bash, coreutils, sed, mawk, grep only).
.PHONY: lint-nvidia-smi-double

APT_PACKAGES += shellcheck mawk

# The double must stay portable to the minimal Debian guest: shellcheck-clean.
lint-nvidia-smi-double: apt-deps
	shellcheck test/doubles/nvidia-smi-test-double.sh

# Not a prerequisite of test-unit: that one needs only Node and npm (docs/decisions/0220).
test-integration: lint-nvidia-smi-double
