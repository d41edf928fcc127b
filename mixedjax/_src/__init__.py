"""mixedjax's implementation, one module per step of the data path (README, Layout). Nothing here
is public: ``mixedjax``, ``mixedjax.datasets``, ``mixedjax.errors`` and ``mixedjax.plots`` are the
API, and names may move between these modules freely."""
