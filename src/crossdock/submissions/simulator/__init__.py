"""A fake demand-side platform (DSP) API with rate limits and faults (``crossdock simulate dsp``)."""
