"""The student: model fetch/convert, fast-BLAS child environment, training and batched generation
in a child process (see worker.py), and the client side the stages use."""
