"""The run dashboard's panels; each draws its part of a RunState in `show(state)`."""
