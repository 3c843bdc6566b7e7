# ---- 6. DRA: the kubelet's own DRA code prepares a claim for edu, and the kernel calls its group viable ----
# Sourced by checks.sh (its helpers, $EDU_RP, $LAB_BIN, $DET). The host runs an API server (e2e/kernel-lab/dra.sh)
# that holds a ResourceClaim allocated pci-0000-01-00-0 of pool "lab" for pod lab/vm; here the daemon publishes edu
# through DRA (standalone, policies/dra.yaml, KUBECONFIG for the API server) and e2e/k8s/cmd/dra-harness, the
# kubelet's DRA manager and plugin watcher, registers it and prepares the pod's claim over the real sockets.
dra_checks=(
    "DRA: the kubelet's plugin watcher registers vfio.example.com and NodePrepareResources answers CDI IDs for edu $EDU_RP"
    "DRA: the prepared claim's CDI edits hold /dev/vfio/vfio and /dev/vfio/<group> (rwm), both character devices here"
    "DRA: a process opens the prepared claim's /dev/vfio/<group> and the kernel says viable"
)
if [[ -n $LAB_DRA_ERROR ]]; then
    for c in "${dra_checks[@]}"; do verdict "$c" "no API server for the DRA driver: $LAB_DRA_ERROR"; done
else
    say "DRA: network to the host's API server, apply dra.yaml, serve through DRA, the kubelet's DRA code prepares"
    # udev would load virtio_net for the NIC's virtio device (coldplug above loads PCI drivers only)
    modprobe virtio_net 2>"$DET/dra-net.err"
    nic=""  # the virtio NIC QEMU's user network is on (the lab's e1000 is not connected to anything)
    for _ in $(seq 50); do
        for n in /sys/class/net/*; do
            [[ $(readlink "$n/device/driver" 2>/dev/null) == */virtio_net ]] && nic=${n##*/}
        done
        [[ -n $nic ]] && break
        sleep 0.1
    done
    echo "NIC: ${nic:-none}" >>"$DET/dra-net.err"
    ip link set "$nic" up 2>>"$DET/dra-net.err" && ip addr add 10.0.2.15/24 dev "$nic" 2>>"$DET/dra-net.err"
    vn apply-dra apply --policies "$POL/dra.yaml" --json
    export KUBECONFIG=$IN/dra/kubeconfig
    timeout -k 5 300 "${JVM[@]}" -XX:ErrorFile="$DET/hs_err_serve-dra_%p.log" -jar "$LAB_JAR" serve --node-name lab \
        --policies "$POL/dra.yaml" --metrics-port 0 --rescan-interval 2s >"$DET/serve-dra.out" 2>"$DET/serve-dra.err" &
    dra_server=$!
    coproc KUBELET { timeout -k 5 300 "$LAB_DRA_HARNESS" --kubeconfig "$KUBECONFIG" --node-name lab \
        --state-dir /var/lib/kubelet 2>"$DET/dra-kubelet.err"; }
    unset KUBECONFIG
    ask() { # ask COMMAND: one answer line of the harness, or empty after 200 s
        local line=""
        echo "$1" >&"${KUBELET[1]}" 2>/dev/null || return
        read -r -t 200 line <&"${KUBELET[0]}"
        echo "$line"
    }
    up=""; read -r -t 200 up <&"${KUBELET[0]}"
    context="serve: $(kill -0 $dra_server 2>/dev/null && echo running || echo "exited: $(grep -v '^\s*$' "$DET/serve-dra.err" | tail -n 2 | tr '\n' ' ' | cut -c1-250)"); harness: ${up:-no answer} $(tail -n 1 "$DET/dra-kubelet.err" | cut -c1-200)"
    registered=$(ask "wait-registered vfio.example.com 200")
    prepared=""
    [[ $registered == *'"ok":true'* ]] && prepared=$(ask "prepare lab vm")
    echo "$prepared" >"$DET/dra-prepare.json"
    why=""
    [[ $registered == *'"ok":true'* ]] || why="not registered: ${registered:-no answer} ($context)"
    [[ -z $why && $prepared != *'"ok":true'* ]] && why="prepare failed: ${prepared:-no answer} (serve's log: $(grep -iE 'refused|error' "$DET/serve-dra.err" | tail -n 1 | cut -c1-250))"
    [[ -z $why ]] && ! jq -e '.containers[0].cdiDevices | length > 0' "$DET/dra-prepare.json" >/dev/null && why="no CDI devices: $prepared"
    verdict "${dra_checks[0]}" "$why"

    why=""
    nodes=$(jq -r '.containers[0].deviceNodes[]? | .path + " " + .permissions' "$DET/dra-prepare.json" 2>/dev/null)
    [[ -n $nodes ]] || why="no device nodes in the CDI edits ($context)"
    grep -qx "/dev/vfio/vfio rwm" <<<"$nodes" || why+="no /dev/vfio/vfio rwm; "
    grep -qx "/dev/vfio/$G_EDU_RP rwm" <<<"$nodes" || why+="no /dev/vfio/$G_EDU_RP rwm (edits: $(tr '\n' ',' <<<"$nodes")); "
    while read -r p _; do [[ -z $p || -c $p ]] || why+="$p is not a character device here; "; done <<<"$nodes"
    verdict "${dra_checks[1]}" "$why"

    why=""
    group_node=$(grep -E '^/dev/vfio/[0-9]+ ' <<<"$nodes" | cut -d' ' -f1 | sed -n 1p)
    if [[ -z $group_node ]]; then
        why="no /dev/vfio/<group> in the prepared claim's CDI edits"
    else
        k=$("$LAB_BIN/vfio-group-status" "$group_node")
        [[ $k == "${group_node##*/} viable" ]] || why="kernel answered: $k"
    fi
    verdict "${dra_checks[2]}" "$why"

    ask "unprepare lab vm" >"$DET/dra-unprepare.json"
    ask "quit" >/dev/null
    kill "$dra_server" 2>/dev/null
    wait "$dra_server" 2>/dev/null
fi
