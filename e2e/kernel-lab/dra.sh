# The DRA part of the lab, host side (sourced by run; needs lib.sh, REPO, WORK_DIR). The DRA driver reads the claims
# it prepares from an API server and publishes ResourceSlices to it: lab_dra_start runs etcd and kube-apiserver (the
# binaries e2e/k8s/build makes) on this host's loopback, creates what the scheduler would have left behind for the
# guest (Node "lab", a ResourceClaim allocated the edu device, the pod it is reserved for), and writes the guest's
# kubeconfig into the inputs. The guest reaches the API server through QEMU's user-mode network (10.0.2.2 is the
# host's loopback there): LAB_QEMU_EXTRA holds its NIC. lab_dra_stop ends both servers. On any failure
# LAB_DRA_ERROR says why and the guest's DRA checks fail with it.

LAB_DRA_ERROR=""
LAB_DRA_HARNESS=""
LAB_QEMU_EXTRA=()
LAB_DRA_PIDS=()
LAB_PORTS=()

lab_free_port() { # a loopback TCP port nothing listens on (not one handed out before in this run)
    local p hex
    while :; do
        p=$((20000 + RANDOM % 40000))
        hex=$(printf '%04X' "$p")
        grep -qiE "^ *[0-9]+: [0-9A-F]+:$hex [0-9A-F]+:[0-9A-F]+ 0A " /proc/net/tcp /proc/net/tcp6 2>/dev/null && continue
        [[ " ${LAB_PORTS[*]-} " == *" $p "* ]] && continue
        LAB_PORTS+=("$p")
        echo "$p"
        return
    done
}

lab_dra_start() { # lab_dra_start INPUT_DIR
    local in=$1 d=$WORK_DIR/apiserver bin token ep pp ap
    if ! bin=$("$REPO/e2e/k8s/build" 2>"$WORK_DIR/k8s-build.log" | tail -n 1) || [[ ! -x $bin/kube-apiserver ]]; then
        LAB_DRA_ERROR="e2e/k8s/build failed: $(tail -n 2 "$WORK_DIR/k8s-build.log" | tr '\n' ' ')"
        return
    fi
    local harness
    harness=$(dirname "$bin")/harness-bin/dra-harness
    [[ -x $harness ]] || { LAB_DRA_ERROR="no $harness"; return; }
    # on the inputs share, as the jar is: the guest sees the host's root, but with tmpfs over /tmp, /run and
    # /var/lib, so a cache under one of them (VFIO_K8S_CACHE or HOME there) would not be found
    cp "$harness" "$in/dra-harness" || { LAB_DRA_ERROR="cannot copy $harness to the guest's inputs"; return; }
    LAB_DRA_HARNESS=/run/lab/dra-harness
    rm -rf "$d"; mkdir -p "$d/certs"
    openssl genrsa -out "$d/sa.key" 2048 2>/dev/null || { LAB_DRA_ERROR="openssl genrsa failed"; return; }
    token=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
    echo "$token,lab-admin,lab-admin,system:masters" >"$d/tokens.csv"
    lab_free_port >"$d/port"; ep=$(<"$d/port"); lab_free_port >"$d/port"; pp=$(<"$d/port")
    lab_free_port >"$d/port"; ap=$(<"$d/port")
    "$bin/etcd" --data-dir "$d/etcd" --listen-client-urls "http://127.0.0.1:$ep" --advertise-client-urls "http://127.0.0.1:$ep" \
        --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
        --initial-cluster "default=http://127.0.0.1:$pp" --unsafe-no-fsync >"$d/etcd.log" 2>&1 &
    LAB_DRA_PIDS+=($!)
    # no --tls-cert-file: the API server makes itself a certificate; the kubeconfigs skip verifying it (loopback only)
    "$bin/kube-apiserver" --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$ap" \
        --cert-dir "$d/certs" --etcd-servers "http://127.0.0.1:$ep" --token-auth-file "$d/tokens.csv" \
        --authorization-mode RBAC --service-account-issuer https://lab --service-account-key-file "$d/sa.key" \
        --service-account-signing-key-file "$d/sa.key" --service-cluster-ip-range 10.0.0.0/24 \
        --endpoint-reconciler-type none --disable-admission-plugins ServiceAccount >"$d/kube-apiserver.log" 2>&1 &
    LAB_DRA_PIDS+=($!)
    local i
    for i in $(seq 240); do
        curl -sfk -H "Authorization: Bearer $token" "https://127.0.0.1:$ap/readyz" >/dev/null 2>&1 && break
        sleep 0.5
    done
    curl -sfk -H "Authorization: Bearer $token" "https://127.0.0.1:$ap/readyz" >/dev/null 2>&1 \
        || { LAB_DRA_ERROR="kube-apiserver not ready in 120 s: $(tail -n 1 "$d/kube-apiserver.log")"; return; }
    kubeconfig() { # kubeconfig SERVER FILE
        printf 'apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster: {server: "%s", insecure-skip-tls-verify: true}\nusers:\n- name: lab\n  user: {token: "%s"}\ncontexts:\n- name: lab\n  context: {cluster: lab, user: lab}\ncurrent-context: lab\n' "$1" "$token" >"$2"
    }
    kubeconfig "https://127.0.0.1:$ap" "$d/kubeconfig"
    mkdir -p "$in/dra"
    kubeconfig "https://10.0.2.2:$ap" "$in/dra/kubeconfig"
    local k=("$bin/kubectl" --kubeconfig "$d/kubeconfig")
    {
        "${k[@]}" apply -f - <<'YAML'
apiVersion: v1
kind: Node
metadata: {name: lab}
---
apiVersion: v1
kind: Namespace
metadata: {name: lab}
---
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: edu, namespace: lab}
spec:
  devices:
    requests:
    - name: edu
      exactly: {deviceClassName: edu.vfio.example.com}
---
apiVersion: v1
kind: Pod
metadata: {name: vm, namespace: lab}
spec:
  nodeName: lab
  resourceClaims:
  - {name: edu, resourceClaimName: edu}
  containers:
  - name: compute
    image: lab.example/virt-launcher:v1
    resources:
      claims:
      - {name: edu}
YAML
        local uid
        uid=$("${k[@]}" -n lab get pod vm -o jsonpath='{.metadata.uid}')
        # what the scheduler writes: the allocation of the edu device, reserved for the pod
        "${k[@]}" -n lab patch resourceclaim edu --subresource=status --type=merge -p "{\"status\":{\"allocation\":{\"devices\":{\"results\":[{\"request\":\"edu\",\"driver\":\"vfio.example.com\",\"pool\":\"lab\",\"device\":\"pci-0000-01-00-0\"}]}},\"reservedFor\":[{\"resource\":\"pods\",\"name\":\"vm\",\"uid\":\"$uid\"}]}}"
    } >"$d/setup.log" 2>&1 || { LAB_DRA_ERROR="creating the lab's claim failed: $(tail -n 2 "$d/setup.log" | tr '\n' ' ')"; return; }
    LAB_QEMU_EXTRA=(-netdev user,id=labnet,net=10.0.2.0/24 -device virtio-net-pci,netdev=labnet,bus=pcie.0,addr=0x14)
    log "DRA: kube-apiserver $("$bin/kube-apiserver" --version | cut -d' ' -f2) on 127.0.0.1:$ap (10.0.2.2:$ap in the guest)"
}

lab_dra_stop() {
    local p # (run has set -e: a server that already exited is no failure here)
    for p in ${LAB_DRA_PIDS[@]+"${LAB_DRA_PIDS[@]}"}; do kill "$p" 2>/dev/null || true; done
    for p in ${LAB_DRA_PIDS[@]+"${LAB_DRA_PIDS[@]}"}; do wait "$p" 2>/dev/null || true; done
    LAB_DRA_PIDS=()
}
