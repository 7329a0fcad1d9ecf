# Keep ONLINE_CPUS CPUs online, THREADS_PER_CORE per physical core, and offline the rest.
# Runs from cloud-init's user-data stage, which the ECS agent waits for, so ECS registers only the
# CPUs jobs may use. THREADS_PER_CORE=1 switches hyper-threading off (the seed did it with nr_cpus=N
# in hand-made AMIs). The topology is read before anything is offlined: an offline CPU drops out of
# its sibling's thread_siblings_list.
set -euo pipefail
ONLINE_CPUS=__ONLINE_CPUS__
THREADS_PER_CORE=__THREADS_PER_CORE__
CPU_ROOT=${CPU_ROOT:-/sys/devices/system/cpu}

cpus=$(ls -d "$CPU_ROOT"/cpu[0-9]* | sed 's|.*/cpu||' | sort -n)
declare -A core_of
for c in $cpus; do
  siblings=$(cat "$CPU_ROOT/cpu$c/topology/thread_siblings_list")
  core_of[$c]=${siblings%%[,-]*}   # a core is named by its first thread
done

cores_needed=$(( (ONLINE_CPUS + THREADS_PER_CORE - 1) / THREADS_PER_CORE ))
chosen_cores=$(for c in $cpus; do echo "${core_of[$c]}"; done | awk '!seen[$0]++' | head -n "$cores_needed")

keep=" "
kept=0
for core in $chosen_cores; do
  threads=0
  for c in $cpus; do
    if [ "${core_of[$c]}" = "$core" ] && [ "$threads" -lt "$THREADS_PER_CORE" ] && [ "$kept" -lt "$ONLINE_CPUS" ]; then
      keep="$keep$c "
      threads=$((threads + 1))
      kept=$((kept + 1))
    fi
  done
done

for c in $cpus; do
  case "$keep" in *" $c "*) continue ;; esac
  if [ -f "$CPU_ROOT/cpu$c/online" ]; then
    echo 0 > "$CPU_ROOT/cpu$c/online"
  fi
done
echo "cpu-topology: kept CPUs${keep}($kept online, $THREADS_PER_CORE thread(s) per core)"
