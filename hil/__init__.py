"""Hardware in the loop: device emulators, waveform synthesis and replay, fault injection."""
