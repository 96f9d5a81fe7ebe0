"""mpi4py_balance: bench_mpi_balance's workload through mpi4py.futures, the peer it is compared with.

Usage: mpirun -n 3 --oversubscribe /usr/bin/python3 -m mpi4py.futures tests/bench/mpi4py_balance.py COSTS_FILE
(1 manager + 2 workers). COSTS_FILE: one task cost in seconds per line, in task order, as bench_mpi_balance
writes it. Each task busy-loops on time.process_time() until it has used its cost in CPU time and returns the
CPU time it used. `MPIPoolExecutor().map(work, costs)` (chunksize 1, mpi4py.futures' default) is timed after
an untimed map of zero-cost tasks that starts the workers. ideal = max(total cost / workers, longest cost), as in
bench_mpi_balance; the CPU time the tasks measured is printed beside it. Prints one line in bench_mpi_balance's
format; exits 1 when a result is missing or wrong, 2 on bad arguments. Never fails on time.
"""
import sys
import time

from mpi4py import MPI
from mpi4py.futures import MPIPoolExecutor


def work(cost):
    t0 = time.process_time()
    end = t0 + cost
    while time.process_time() < end:
        pass
    return time.process_time() - t0


def main():
    if len(sys.argv) != 2:
        print("usage: mpirun -n 3 --oversubscribe /usr/bin/python3 -m mpi4py.futures mpi4py_balance.py COSTS_FILE",
              file=sys.stderr)
        return 2
    path = sys.argv[1]
    try:
        with open(path) as f:
            costs = [float(line) for line in f if line.strip()]
    except (OSError, ValueError) as e:
        print(f"mpi4py_balance: costs file '{path}': {e}", file=sys.stderr)
        return 2
    if not costs:
        print(f"mpi4py_balance: costs file '{path}' holds no costs", file=sys.stderr)
        return 2
    workers = MPI.COMM_WORLD.Get_size() - 1  # under -m mpi4py.futures: rank 0 manages, the others work
    if workers < 1:
        print("mpi4py_balance: run it under mpirun -n 3 ... -m mpi4py.futures (1 manager + workers); found "
              f"{workers + 1} process", file=sys.stderr)
        return 2
    with MPIPoolExecutor() as ex:
        ex.bootup(wait=True)
        list(ex.map(work, [0.0] * (2 * workers)))
        t0 = time.perf_counter()
        used = list(ex.map(work, costs))
        makespan = time.perf_counter() - t0
    if len(used) != len(costs) or any(u < c for u, c in zip(used, costs)):
        print(f"mpi4py_balance: ERROR {len(used)} results for {len(costs)} tasks, or a task used less CPU time "
              "than its cost", file=sys.stderr)
        return 1
    ideal = max(sum(costs) / workers, max(costs))
    measured_ideal = max(sum(used) / workers, max(used))
    print(f"bench_mpi_balance  case=mpi4py.futures  ranks=1+{workers}  workers={workers}  tasks={len(costs)}  "
          f"makespan={makespan:.3f}s  ideal={ideal:.3f}s  makespan/ideal={makespan / ideal:.3f}  "
          f"(tasks measured work={sum(used):.3f}s longest={max(used):.3f}s: makespan/that="
          f"{makespan / measured_ideal:.3f})  (MPIPoolExecutor.map, chunksize=1)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
