"""`hpcx`: the one command for users of this repository (Click). Every command delegates to the code that
does the work (localcloud/, reproduce/, tools/, benchmarks/, the CDK CLI) and works from any directory.

    hpcx demo                                   synthesize, then run the three state machines locally
    hpcx local lsrtm|cosmic|automon|ray         one local run (--input FILE|JSON, --json)
    hpcx data synthetic|bp2004|cosmic           make a dataset and upload it to a deployed bucket
    hpcx reproduce EXPERIMENT --plan            the seismic paper's experiments; --plan works from cdk.out
    hpcx bench [NAME]                           benchmarks/
    hpcx images                                 build every image and run its entrypoint
    hpcx synth | diff [STACK] | deploy STACK    the pinned CDK CLI (-c key=value)
"""
