# Control-plane emulator + k0s test double (issue 4, items 1-2): test/control-plane/, test/doubles/.
#   openssl   the emulator makes its CAs and server certificates with the CLI at every start
#   curl      the k0s test double joins the emulator with it (and the installer downloads with it)
#   gzip, coreutils (base64)  decode k0s join tokens in the double
APT_PACKAGES += openssl curl gzip coreutils

.PHONY: emulator emulator-stop
EMULATOR_STATE ?= $(CURDIR)/.cache/emulator
# Start the emulator in the background on loopback and print API_URL, CA_FILE, API_KEY, ...
# Extra options: make emulator EMULATOR_ARGS="--listen 10.0.0.1 --kube-port 0"
emulator: deps
	$(NODE) test/control-plane/main.ts start --state-dir $(EMULATOR_STATE) $(EMULATOR_ARGS)

emulator-stop:
	$(NODE) test/control-plane/main.ts stop --state-dir $(EMULATOR_STATE)
