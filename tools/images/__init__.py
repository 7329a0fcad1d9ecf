"""`make images`: build every container image from the context `cdk synth` stages, then run each one's
entrypoint for real (see README, "Building the images"). One job per module:

- python_version  the one Python version of the tests and every image (.python-version)
- contexts        which staged cdk.out directory, Dockerfile and build args each image gets
- engine          docker where a daemon answers, buildah (chroot isolation) where none does
- standins        bookworm stand-ins for the base images when no registry can be reached
- host_pip        the host's pip configuration, lent read-only to builds on the stand-ins
- runtime_api     a tiny Lambda Runtime API server, so awslambdaric in the image answers invocations
- smoke_*         what each image must do for real
- __main__        the order of things, progress, timings and the summary
"""
