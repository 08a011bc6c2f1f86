"""sync: the bridge to the city platform and the 12345 hotline (records what must go out; the bridge is the sync
issue's)."""
