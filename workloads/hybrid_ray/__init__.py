"""Hybrid HPC/cloud Ray runtime: a data-aware scheduler on stock Ray, its workloads and its testbed glue.

Modules, one job each:
  cluster_labels   label keys, values and the transfer resource shared by every other module
  topology         typed topology config (sites, nodes, WAN links) for the testbed and the local emulation
  netem            ``tc`` commands that shape a node's egress per remote site (emulated WAN)
  bootstrap        a node's boot script: pinned stock Ray, ``ray start`` with labels, the shaping
  datasets         where a dataset lives (HPC share, a node's disk, the S3 stand-in)
  emulated_link    bandwidth + RTT throttle that stands in for netem in single-machine runs
  object_store     local directory standing in for an S3 bucket
  transfer         moving a dataset's files to a node (used by the scheduler and by the baseline)
  estimator        per-node compute speed and per-link throughput learned from finished work
  jobs             a job, a compute task's result, the report of a run
  planner          pure placement logic: earliest estimated finish, prefetch depth
  scheduler        the Ray driver loop: stage, pin, learn, survive node loss
  baseline         Ray's default scheduling with the fetch inside the task (the original's "manu" mode)
  local_cluster    a 3-raylet cluster on 127.0.0.1 labelled like the testbed
  image_transform  the image transformation workload
  param_server     the parameter-server workload (small CNN)
  run              command line: one workload, one scheduler, local cluster or a running one
"""
