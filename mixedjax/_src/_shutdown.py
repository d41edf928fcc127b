"""A quicker interpreter exit: the heap is frozen (``gc.freeze``) when the interpreter exits.

At exit CPython tears down its modules and runs the cyclic garbage collector over everything
still alive. After ``import mixedjax`` (JAX, pandas, formulaic, SciPy: about 150,000 tracked
objects) and one fit, that takes 0.15-0.18 s, a fifth of a fresh ``python script.py`` that fits a
model the machine has fitted before (``benchmarks/bench_cold.py``), and it frees nothing the
operating system would not reclaim at once. Frozen objects are left to the operating system.

What a user gives up: objects kept alive only by reference cycles at exit do not have their
``__del__`` run; CPython does not promise that either (``object.__del__``'s documentation), and
``atexit`` handlers and ``weakref.finalize`` callbacks still run. A program that needs the full
collection at exit calls ``gc.unfreeze()`` in an ``atexit`` handler of its own registered after
``import mixedjax`` (handlers run last-registered first).
"""
import atexit
import gc


def _freeze_heap() -> None:
    gc.freeze()


atexit.register(_freeze_heap)
