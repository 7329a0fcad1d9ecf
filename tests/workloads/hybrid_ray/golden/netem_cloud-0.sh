# emulated WAN from cloud-0 (site cloud) on ens5, generated from the topology
sysctl -w net.core.rmem_max=25000000
sysctl -w net.core.wmem_max=25000000
tc qdisc del dev ens5 root 2>/dev/null || true
tc qdisc add dev ens5 root handle 1: htb default 1
tc class add dev ens5 parent 1: classid 1:1 htb rate 10gbit
# to site hpc (10.10.0.0/16): 100mbit, RTT 20 ms
tc class add dev ens5 parent 1: classid 1:10 htb rate 100mbit ceil 100mbit burst 128kb cburst 128kb
tc qdisc add dev ens5 parent 1:10 handle 10: netem delay 10ms limit 10000
tc filter add dev ens5 parent 1: protocol ip prio 1 u32 match ip dst 10.10.0.0/16 flowid 1:10
