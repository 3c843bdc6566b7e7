#!/bin/bash
# Runs INSIDE the lab guest (a chroot of the host root on a real 6.12 kernel with an emulated
# IOMMU). Compares the project's daemon with what the kernel itself says. Writes one line per
# check to $LAB_RESULTS/checks.txt ("PASS name" / "FAIL name: why"), evidence to
# $LAB_RESULTS/details/, and "DONE" last so the host knows the script ran to its end.
set -u
# Binds and unbinds PCI devices: it must never run anywhere but in the lab's own guest.
[[ ${BASH_SOURCE[0]} == /run/lab/checks.sh ]] && grep -qw lab.script=checks.sh /proc/cmdline || { echo "checks.sh runs only inside the kernel lab's guest (see run)" >&2; exit 2; }
IN=$(dirname "${BASH_SOURCE[0]}") # the inputs run put together: this script, jar, helpers, policies
source "$IN/lab.env"               # LAB_STANDIN_ERROR LAB_JAR_SOURCE LAB_MODULES_ALIAS_SHA
LAB_JAR=$IN/vfio-node-all.jar
LAB_BIN=$IN/bin
LAB_STANDIN_DIR=$IN/standin
OUT=$LAB_RESULTS
CHECKS=$OUT/checks.txt
DET=$OUT/details
POL=$IN/policies
SYS=/sys/bus/pci/devices
mkdir -p "$DET"
: >"$CHECKS"

# The lab's devices (see boot.sh for the QEMU topology they come from).
EDU_RP=0000:01:00.0     # edu behind a root port: the variant driver's target
TESTDEV_RP=0000:02:00.0 # pci-testdev behind a root port: plain vfio-pci's target
BRIDGE=0000:00:04.0     # pcie-pci-bridge; shares its group with the two below
E1000=0000:03:01.0      # e1000, bound to the host driver e1000: the blocker
TESTDEV_BR=0000:03:02.0 # pci-testdev behind the bridge
EDU_ROOT=0000:00:05.0   # edu on the root bus, alone in its group
VARIANT_DRIVER=lab-vfio-pci
VARIANT_MODULE=lab_vfio_pci

say() { echo "lab [$(cut -d' ' -f1 /proc/uptime)s]: $*"; }
verdict() { # verdict NAME WHY: passes when WHY is empty
    local line
    if [[ -z $2 ]]; then line="PASS $1"; else line="FAIL $1: $2"; fi
    echo "$line" >>"$CHECKS"
    echo "$line"
}

# ---- sysfs, read and written by the lab itself (independently of the daemon) ----
# (few forks: every process costs ~100x its native price under software emulation)
drv() { if [[ -e $SYS/$1/driver ]]; then local l; l=$(readlink "$SYS/$1/driver"); echo "${l##*/}"; else echo none; fi; }
group_of() { local l; l=$(readlink "$SYS/$1/iommu_group"); echo "${l##*/}"; }
hexid() { local v; read -r v <"$SYS/$1/$2"; echo "${v#0x}"; }
snapshot() { local d; for d in "$SYS"/*; do echo "${d##*/} $(drv "${d##*/}")"; done; }
oracle() { # the kernel's verdict on group $1: viable | not-viable | error <why>
    "$LAB_BIN/vfio-group-status" "/dev/vfio/$1" | cut -d' ' -f2-
}
lab_bind() { # lab_bind ADDR DRIVER MODULE: driverctl's sequence
    modprobe "$3" || return 1
    echo "$2" >"$SYS/$1/driver_override"
    [[ -e $SYS/$1/driver ]] && echo "$1" >"$SYS/$1/driver/unbind"
    echo "$1" >/sys/bus/pci/drivers_probe
    [[ $(drv "$1") == "$2" ]]
}
lab_release() { # give ADDR back to whatever the kernel picks (nothing, for the lab's test devices)
    echo >"$SYS/$1/driver_override"
    [[ -e $SYS/$1/driver ]] && echo "$1" >"$SYS/$1/driver/unbind"
    echo "$1" >/sys/bus/pci/drivers_probe 2>/dev/null
    return 0
}
diff_states() { # diff_states EXPECTED ACTUAL: the differing lines, as one line ("-" expected, "+" actual)
    [[ $1 == "$2" ]] && return
    echo "$1" >/tmp/lab-expected; echo "$2" >/tmp/lab-actual
    diff /tmp/lab-expected /tmp/lab-actual | sed -n 's/^< /-/p; s/^> /+/p' | tr '\n' ' '
    echo
}

# ---- the daemon ----
# The JVM flags bin/vfio-node runs the daemon with (serial GC, C1 only): the code production runs, and
# fewer JVM threads for QEMU's software CPU, under which JIT-compiled code has crashed now and then.
JVM=(java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss512k)
vn() { # vn NAME ARGS...: runs bin/vfio-node, stdout/stderr/exit in $DET/NAME.{out,err,rc}
    local name=$1 start=$SECONDS; shift
    timeout -k 5 "${VN_TIMEOUT:-150}" "${JVM[@]}" -XX:ErrorFile="$DET/hs_err_${name}_%p.log" -jar "$LAB_JAR" "$@" \
        >"$DET/$name.out" 2>"$DET/$name.err"
    local rc=$?
    if ((rc == 134)) && [[ $1 == inspect || $1 == apply ]] && compgen -G "$DET/hs_err_${name}_*.log" >/dev/null; then
        # The JVM itself crashed (its report is in details/). inspect only reads; apply keeps its journal
        # so that a second run after a crash finishes or undoes what the first began, as a restarted
        # agent does. Either may be asked again; the check then judges what the kernel shows.
        echo "vfio-node $* -> JVM crash (exit 134), retried" >>"$DET/timing.txt"
        timeout -k 5 "${VN_TIMEOUT:-150}" "${JVM[@]}" -XX:ErrorFile="$DET/hs_err_${name}_%p.log" -jar "$LAB_JAR" "$@" \
            >"$DET/$name.out" 2>"$DET/$name.err"
        rc=$?
    fi
    echo "$rc" >"$DET/$name.rc"
    echo "vfio-node $* -> exit $rc in $((SECONDS - start)) s" >>"$DET/timing.txt"
    return "$rc"
}
vn_failure() { # why step NAME failed, for a FAIL line
    local name=$1 rc
    rc=$(cat "$DET/$name.rc")
    if [[ ! -f $LAB_JAR ]]; then echo "no jar: $LAB_JAR_SOURCE was not built"; return; fi
    ((rc == 124 || rc == 137)) && { echo "timed out after ${VN_TIMEOUT:-150} s"; return; }
    local err
    err=$(grep -v '^\s*$' "$DET/$name.err" | sed -n 1,3p | tr '\n' ' ' | cut -c1-300)
    if ((rc == 2)) && grep -qiE 'unmatched argument|unknown (sub)?command|unknown option' "$DET/$name.err"; then
        echo "not available in this vfio-node (exit 2: $err)"
    else
        echo "exit $rc: $err"
    fi
}

# ---- comparing `inspect --json` with the kernel ----
# load_report FILE: one jq run flattens the report into R_* arrays (jq costs ~1.5 s a run here).
declare -A R_DEV R_VIABLE R_REC R_REASONS R_GVIABLE R_GMEMBERS R_GBLOCKERS
load_report() {
    R_DEV=() R_VIABLE=() R_REC=() R_REASONS=() R_GVIABLE=() R_GMEMBERS=() R_GBLOCKERS=()
    local kind k a b c d e f g h i
    while IFS=$'\t' read -r kind k a b c d e f g h i; do
        case $kind in
            D) R_DEV[$k]="$a $b $c $d $e $f"; R_VIABLE[$k]=$g; R_REC[$k]=$h; R_REASONS[$k]=$i ;;
            G) R_GVIABLE[$k]=$a; R_GMEMBERS[$k]=$b; R_GBLOCKERS[$k]=$c ;;
        esac
    done < <(jq -r '
        (.devices[] | ["D", .address, .vendor, .device, .class, (.driver // "none"),
            (.vfioDriver | tostring), (.iommuGroup // "none" | tostring), (.viable | tostring),
            (.recommendedDriver // "none"), ((.reasons // []) | join(" | "))]),
        (.groups[] | ["G", (.id | tostring), (.viable | tostring), (.devices | sort | join(",")),
            ((.blockers // []) | map(.address + "=" + (.driver // "none")) | join(" "))])
        | map(if . == "" then "-" else . end) | @tsv' "$1")
}

# compare_inspect LABEL: three checks on the loaded report.
compare_inspect() {
    local label=$1 why="" d a want
    local -A seen=()
    for d in "$SYS"/*; do
        a=${d##*/}; seen[$a]=1
        local vf=false; [[ -d $d/vfio-dev ]] && vf=true
        want="$(hexid "$a" vendor) $(hexid "$a" device) $(hexid "$a" class) $(drv "$a") $vf $(group_of "$a")"
        if [[ -z ${R_DEV[$a]+x} ]]; then
            why+="$a missing; "
        elif [[ ${R_DEV[$a]} != "$want" ]]; then
            why+="$a reported [${R_DEV[$a]}] but sysfs says [$want]; "
        fi
    done
    for a in "${!R_DEV[@]}"; do [[ -n ${seen[$a]-} ]] || why+="reported $a, which sysfs does not have; "; done
    verdict "$label: every device's ids, class, driver link, VFIO binding and group match sysfs" "$why"

    why=""
    local g members
    for d in /sys/kernel/iommu_groups/*; do
        g=${d##*/}
        members=$(cd "$d/devices" && printf '%s\n' * | sort | paste -sd,)
        [[ ${R_GMEMBERS[$g]-} == "$members" ]] || why+="group $g: reported [${R_GMEMBERS[$g]-none}] kernel [$members]; "
    done
    verdict "$label: every group lists exactly the kernel's members" "$why"

    why=""
    local nodes=() n kernel
    for n in /dev/vfio/*; do [[ ${n##*/} =~ ^[0-9]+$ ]] && nodes+=("${n##*/}"); done
    for n in "${nodes[@]}"; do
        kernel=$(oracle "$n")
        case $kernel in
            viable) want=true ;;
            not-viable) want=false ;;
            *) why+="group $n: oracle $kernel; "; continue ;;
        esac
        [[ ${R_GVIABLE[$n]-} == "$want" ]] || why+="group $n: kernel $kernel, inspect viable=${R_GVIABLE[$n]-missing}; "
        # A member on a VFIO driver is usable exactly when the kernel calls its group viable.
        # (Other members may be unusable for reasons of their own, e.g. a bridge.)
        for d in /sys/kernel/iommu_groups/$n/devices/*; do
            a=${d##*/}
            [[ -d $SYS/$a/vfio-dev ]] || continue
            [[ ${R_VIABLE[$a]-} == "$want" ]] || why+="device $a: kernel says group $n $kernel, inspect viable=${R_VIABLE[$a]-missing}; "
        done
    done
    ((${#nodes[@]})) || why="no /dev/vfio/<group> node to compare with (the lab bound nothing?)"
    verdict "$label: viable agrees with the kernel on groups ${nodes[*]:-none}" "$why"
}

# ============================================================================================
say "coldplug: loading the drivers udev would load"
modprobe -q -a $(cat "$SYS"/*/modalias) 2>/dev/null
S0=$(snapshot)
echo "$S0" >"$DET/state-boot.txt"

# ---- 0. the lab is what boot.sh built ----
why=""
for spec in "$EDU_RP 1234:11e8" "$TESTDEV_RP 1b36:0005" "$BRIDGE 1b36:000e" "$E1000 8086:100e" \
    "$TESTDEV_BR 1b36:0005" "$EDU_ROOT 1234:11e8"; do
    set -- $spec
    [[ -e $SYS/$1 && "$(hexid "$1" vendor):$(hexid "$1" device)" == "$2" ]] || why+="$1 is not $2; "
done
[[ -z $why ]] && {
    [[ $(group_of "$BRIDGE") == "$(group_of "$E1000")" && $(group_of "$E1000") == "$(group_of "$TESTDEV_BR")" ]] \
        || why+="bridge, e1000 and the testdev behind it are not one group; "
    [[ $(ls "/sys/kernel/iommu_groups/$(group_of "$EDU_RP")/devices") == "$EDU_RP" ]] || why+="$EDU_RP not alone; "
    [[ $(drv "$E1000") == e1000 ]] || why+="e1000 did not bind its host driver; "
    grep -q "^alias vfio_pci:.* $VARIANT_MODULE\$" "/lib/modules/$(uname -r)/modules.alias" \
        || why+="no vfio_pci: alias for $VARIANT_MODULE (run setup); "
}
verdict "lab: topology, IOMMU groups and host drivers are as built (kernel $(uname -r))" "$why"

# The module tree is the lab's own (setup made it from the kernel package and the lab's driver), so what
# inspect and auto see cannot depend on what else is installed on the machine.
why=""
TREE=/lib/modules/$(uname -r)
awk '$1 == "labmodules" && $2 ~ /\/lib\/modules$/ { found = 1 } END { exit !found }' /proc/mounts \
    || why+="/lib/modules is not the lab's share but [$(awk '$2 ~ /lib\/modules/ { print $1 " on " $2 }' /proc/mounts | paste -sd,)]; "
[[ $(sha256sum <"$TREE/modules.alias" | cut -d' ' -f1) == "$LAB_MODULES_ALIAS_SHA" ]] \
    || why+="$TREE/modules.alias is not the one setup made for the lab; "
[[ -f $TREE/updates/$VARIANT_MODULE.ko ]] || why+="no updates/$VARIANT_MODULE.ko in $TREE; "
vfio_modules=$(sed -n 's/^alias vfio_pci:[^ ]* //p' "$TREE/modules.alias" | sort -u | paste -sd' ')
[[ $vfio_modules == "$VARIANT_MODULE vfio_pci" ]] \
    || why+="its vfio_pci: aliases name [$vfio_modules], not only the kernel's vfio_pci and $VARIANT_MODULE; "
verdict "lab: the guest's /lib/modules is the lab's own tree (the kernel package's modules plus $VARIANT_MODULE, depmod run on it), not the machine's" "$why"
G_SHARED=$(group_of "$TESTDEV_BR")
G_EDU_RP=$(group_of "$EDU_RP")
G_TESTDEV_RP=$(group_of "$TESTDEV_RP")
G_EDU_ROOT=$(group_of "$EDU_ROOT")

# ---- 1 + 2. inspect against the kernel ----
# Arrange, with the lab's own sysfs writes: 03:02.0 on vfio-pci while its sibling stays on e1000,
# and the root-bus edu on the variant driver.
why=""
lab_bind "$TESTDEV_BR" vfio-pci vfio_pci || why+="could not bind $TESTDEV_BR to vfio-pci; "
lab_bind "$EDU_ROOT" "$VARIANT_DRIVER" "$VARIANT_MODULE" || why+="could not bind $EDU_ROOT to $VARIANT_DRIVER; "
[[ -d $SYS/$EDU_ROOT/vfio-dev && -c /dev/vfio/$G_EDU_ROOT ]] || why+="variant gave $EDU_ROOT no vfio-dev/ or /dev/vfio/$G_EDU_ROOT; "
[[ $(oracle "$G_SHARED") == not-viable ]] || why+="kernel does not call group $G_SHARED not viable; "
[[ $(oracle "$G_EDU_ROOT") == viable ]] || why+="kernel does not call group $G_EDU_ROOT viable; "
verdict "lab: kernel says group $G_SHARED (vfio-pci beside e1000) is not viable and group $G_EDU_ROOT (variant) is" "$why"

C_RUNS="inspect --json runs and prints devices and groups"
C_BLOCK="inspect: $TESTDEV_BR on vfio-pci beside e1000 is not viable and names e1000 ($E1000) as the blocker"
C_VARIANT="inspect: the variant $VARIANT_DRIVER (module $VARIANT_MODULE) is recognised as a VFIO driver"
C_AUTO="inspect: auto recommends the variant for edu $EDU_RP (its vfio_pci: alias matches)"
C_FALLBACK="inspect: auto falls back to vfio-pci for pci-testdev $TESTDEV_RP (no variant matches)"
say "inspect --json"
if vn inspect inspect --json && jq -e '.devices and .groups' "$DET/inspect.out" >/dev/null 2>&1; then
    verdict "$C_RUNS" ""
    load_report "$DET/inspect.out"
    compare_inspect "inspect"

    why=""
    [[ ${R_VIABLE[$TESTDEV_BR]-} == false ]] || why+="$TESTDEV_BR reported viable=${R_VIABLE[$TESTDEV_BR]-missing}; "
    [[ ${R_REASONS[$TESTDEV_BR]-} == *e1000* ]] || why+="its reasons do not name e1000: '${R_REASONS[$TESTDEV_BR]-}'; "
    [[ " ${R_GBLOCKERS[$G_SHARED]-} " == *" $E1000=e1000 "* ]] \
        || why+="group $G_SHARED blockers are '${R_GBLOCKERS[$G_SHARED]-}', not $E1000=e1000; "
    verdict "$C_BLOCK" "$why"

    why=""
    [[ ${R_DEV[$EDU_ROOT]-} == *" $VARIANT_DRIVER true $G_EDU_ROOT" ]] || why="reported [${R_DEV[$EDU_ROOT]-missing}]"
    verdict "$C_VARIANT" "$why"

    rec=${R_REC[$EDU_RP]-missing}
    [[ $rec == "$VARIANT_MODULE" || $rec == "$VARIANT_DRIVER" ]] && why="" || why="recommendedDriver is '$rec'"
    verdict "$C_AUTO" "$why"

    rec=${R_REC[$TESTDEV_RP]-missing}
    [[ $rec == vfio-pci || $rec == vfio_pci ]] && why="" || why="recommendedDriver is '$rec'"
    verdict "$C_FALLBACK" "$why"
else
    why="inspect $(vn_failure inspect)"
    for c in "$C_RUNS" "inspect: every device's ids, class, driver link, VFIO binding and group match sysfs" \
        "inspect: every group lists exactly the kernel's members" "inspect: viable agrees with the kernel" \
        "$C_BLOCK" "$C_VARIANT" "$C_AUTO" "$C_FALLBACK"; do
        verdict "$c" "$why"
    done
fi

lab_release "$TESTDEV_BR"; lab_release "$EDU_ROOT"
now=$(snapshot)
verdict "lab: its own bindings undone, every device back on its boot driver" "$(diff_states "$S0" "$now")"

# ---- 3. apply ----
bound_ok() { # bound_ok ADDR DRIVER GROUP: why not, or nothing
    local d
    d=$(drv "$1")
    [[ $d == "$2" ]] || { echo "$1 is on $d, not $2"; return; }
    [[ -d $SYS/$1/vfio-dev ]] || { echo "$1 has no vfio-dev/"; return; }
    local k; k=$(oracle "$3")
    [[ $k == viable ]] || echo "kernel says group $3 is $k"
}

# The root-bus edu starts this part on pci-stub, put there by hand (driver_override): the kernel
# alone would leave it driverless, so only a journal can give it back to pci-stub.
lab_bind "$EDU_ROOT" pci-stub pci_stub
S1=$(snapshot)
echo "$S1" >"$DET/state-before-apply.txt"
verdict "lab: edu $EDU_ROOT starts the apply checks on pci-stub" \
    "$([[ $(drv "$EDU_ROOT") == pci-stub ]] || echo "it is on $(drv "$EDU_ROOT")")"

say "apply --dry-run"
if vn apply-dry apply --policies "$POL/bind.yaml" --dry-run --json; then
    verdict "apply --dry-run: exits 0 and changes no driver" "$(diff_states "$S1" "$(snapshot)")"
else
    verdict "apply --dry-run: exits 0 and changes no driver" "apply $(vn_failure apply-dry)"
fi

say "apply bind.yaml"
if vn apply-bind apply --policies "$POL/bind.yaml" --json; then
    verdict "apply: exits 0 for the lab's four policies" ""
else
    verdict "apply: exits 0 for the lab's four policies" "apply $(vn_failure apply-bind)"
fi
snapshot >"$DET/state-after-bind.txt"
verdict "apply: driver auto binds edu $EDU_RP to the variant $VARIANT_DRIVER, group viable per the kernel" \
    "$(bound_ok "$EDU_RP" "$VARIANT_DRIVER" "$G_EDU_RP")"
verdict "apply: driver vfio-pci binds pci-testdev $TESTDEV_RP, group viable per the kernel" \
    "$(bound_ok "$TESTDEV_RP" vfio-pci "$G_TESTDEV_RP")"
verdict "apply: driver vfio-pci takes edu $EDU_ROOT from pci-stub, group viable per the kernel" \
    "$(bound_ok "$EDU_ROOT" vfio-pci "$G_EDU_ROOT")"
why=$(bound_ok "$TESTDEV_BR" vfio-pci "$G_SHARED")
[[ -d $SYS/$E1000/vfio-dev ]] || why+=" companion $E1000 is on $(drv "$E1000"), not a VFIO driver"
[[ $(drv "$BRIDGE") == none ]] || why+=" bridge $BRIDGE was bound to $(drv "$BRIDGE")"
verdict "apply: companions Bind takes e1000 $E1000 along, the bridge stays driverless, group $G_SHARED viable per the kernel" "$why"
if vn inspect-bound inspect --json; then
    load_report "$DET/inspect-bound.out"
    compare_inspect "inspect after apply"
else
    why="inspect $(vn_failure inspect-bound)"
    for c in "every device's ids, class, driver link, VFIO binding and group match sysfs" \
        "every group lists exactly the kernel's members" "viable agrees with the kernel"; do
        verdict "inspect after apply: $c" "$why"
    done
fi

# Giving devices back is one edit: bind.yaml with its driver lines changed to host and nothing else
# (lab-shared keeps companions: Bind, so its companion e1000 must go back with it, from the journal).
HOST_POL=/tmp/lab-host.yaml
sed -E 's/^(  driver:).*/\1 host/' "$POL/bind.yaml" >"$HOST_POL"
cp "$HOST_POL" "$DET/host.yaml"
C_GIVE="apply: bind.yaml with its driver lines changed to host (lab-shared: auto -> host, companions: Bind kept) gives all of group $G_SHARED back: $TESTDEV_BR driverless, companion e1000 $E1000 on e1000, the bridge untouched"
C_RESTORE="apply: driver host restores every original driver from the journal (e1000 on e1000, $EDU_ROOT on pci-stub)"
say "apply bind.yaml with driver: host"
if ! grep -q '^  driver: auto' "$POL/bind.yaml" || grep -q '^  driver: auto' "$HOST_POL"; then
    why="the lab's edit of bind.yaml did not turn its driver: auto lines into driver: host"
    verdict "$C_GIVE" "$why"; verdict "$C_RESTORE" "$why"
elif vn apply-host apply --policies "$HOST_POL" --json; then
    why=""
    [[ $(drv "$TESTDEV_BR") == none ]] || why+="$TESTDEV_BR is on $(drv "$TESTDEV_BR"); "
    [[ $(drv "$E1000") == e1000 ]] || why+="companion $E1000 is on $(drv "$E1000"); "
    [[ $(drv "$BRIDGE") == none ]] || why+="bridge $BRIDGE is on $(drv "$BRIDGE"); "
    [[ -e /dev/vfio/$G_SHARED ]] && why+="/dev/vfio/$G_SHARED is still there (a member still on a VFIO driver?); "
    jq -e --arg a "$E1000" '.devices[] | select(.address == $a) | .policy == "lab-shared" and .action == "give back"
        and .state == "Bound" and .toDriver == "e1000"' "$DET/apply-host.out" >/dev/null \
        || why+="apply did not report $E1000 given back to e1000 for policy lab-shared: $(jq -c --arg a "$E1000" \
            '.devices[] | select(.address == $a) | {policy, action, state, toDriver}' "$DET/apply-host.out" 2>&1 | cut -c1-200); "
    verdict "$C_GIVE" "$why"
    why=$(diff_states "$S1" "$(snapshot)")
    [[ -n $why ]] && why="differs from before apply: $why"
    cmp -s "$DET/state-before-apply.txt" "$DET/state-after-bind.txt" && why+=" (nothing had been bound, so nothing was restored)"
    verdict "$C_RESTORE" "$why"
else
    why="apply $(vn_failure apply-host)"
    verdict "$C_GIVE" "$why"; verdict "$C_RESTORE" "$why"
fi

say "apply the host policies while a process holds $TESTDEV_RP"
held=""
# Given back above, so the lab binds it itself: a device no journal knows, on vfio-pci, held by a process.
[[ $(drv "$TESTDEV_RP") == vfio-pci ]] || lab_bind "$TESTDEV_RP" vfio-pci vfio_pci
if [[ $(drv "$TESTDEV_RP") == vfio-pci ]]; then
    "$LAB_BIN/vfio-hold" "/dev/vfio/$G_TESTDEV_RP" "$TESTDEV_RP" >"$DET/hold.out" 2>"$DET/hold.err" &
    holder=$!
    for _ in $(seq 50); do grep -q holding "$DET/hold.out" && break; sleep 0.1; done
    grep -q holding "$DET/hold.out" && held=yes
fi
if [[ -n $held ]]; then
    # If the daemon wrongly unbinds, the kernel blocks it until the holder lets go: the watchdog
    # lets go after 120 s so the lab still finishes, and the check fails.
    (VN_TIMEOUT=200 vn apply-held apply --policies "$HOST_POL" --json) &
    applier=$!
    for _ in $(seq 120); do kill -0 "$applier" 2>/dev/null || break; sleep 1; done
    why=""
    if kill -0 "$applier" 2>/dev/null; then
        why="apply still running after 120 s (blocked unbinding a held device?); "
        kill "$holder"
    fi
    wait "$applier"
    [[ $(drv "$TESTDEV_RP") == vfio-pci ]] || why+="$TESTDEV_RP was moved to $(drv "$TESTDEV_RP"); "
    kill -0 "$holder" 2>/dev/null || why+="the holder lost its device; "
    grep -q "$TESTDEV_RP" "$DET/apply-held.out" "$DET/apply-held.err" \
        || why+="apply did not mention $TESTDEV_RP ($(vn_failure apply-held)); "
    verdict "apply: $TESTDEV_RP held open by a process (group + device fd) is refused, not unbound" "$why"
    kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
else
    verdict "apply: $TESTDEV_RP held open by a process (group + device fd) is refused, not unbound" \
        "could not hold it: on $(drv "$TESTDEV_RP"); $(head -c 200 "$DET/hold.err" 2>/dev/null)"
fi

# Whatever apply did or did not do, check 4 starts from the boot state.
for a in "$EDU_RP" "$TESTDEV_RP" "$TESTDEV_BR" "$E1000" "$EDU_ROOT"; do
    [[ $(grep "^$a " <<<"$S0") == "$a $(drv "$a")" ]] || lab_release "$a"
done

# ---- 4. serve, with the kubelet stand-in ----
KDIR=/run/lab-kubelet
mkdir -p "$KDIR/device-plugins" "$KDIR/pod-resources"
serve_checks=(
    "serve: registers vfio.example.com/edu with the kubelet stand-in"
    "serve: ListAndWatch reports edu $EDU_RP Healthy"
    "serve: Allocate's device nodes exist in the guest and the env names $EDU_RP"
    "serve: a process opens the allocated /dev/vfio/<group> and the kernel says viable"
)
if [[ -n $LAB_STANDIN_ERROR ]]; then
    for c in "${serve_checks[@]}"; do verdict "$c" "kubelet stand-in not available: $LAB_STANDIN_ERROR"; done
else
    # The standalone workflow: apply binds what the policies ask for, serve publishes it. (serve
    # may bind by itself too; applying first is then a no-op.)
    say "apply serve.yaml, then serve with the kubelet stand-in"
    vn apply-serve apply --policies "$POL/serve.yaml" --json
    prepared="apply serve.yaml: $( [[ $(cat "$DET/apply-serve.rc") == 0 ]] && echo "exit 0, edu on $(drv "$EDU_RP")" || vn_failure apply-serve)"
    timeout -k 5 240 "${JVM[@]}" -Dorg.slf4j.simpleLogger.defaultLogLevel=error -cp "$LAB_JAR:$LAB_STANDIN_DIR" KubeletStandIn \
        --plugin-dir "$KDIR/device-plugins" --pod-resources-socket "$KDIR/pod-resources/kubelet.sock" \
        --resource vfio.example.com/edu --allocate "$EDU_RP" --timeout 150 \
        >"$DET/kubelet.out" 2>"$DET/kubelet.err" &
    standin=$!
    for _ in $(seq 300); do [[ -S $KDIR/device-plugins/kubelet.sock ]] && break; sleep 0.1; done
    timeout -k 5 240 "${JVM[@]}" -XX:ErrorFile="$DET/hs_err_serve_%p.log" -jar "$LAB_JAR" serve --plugin-dir "$KDIR/device-plugins" \
        --pod-resources-socket "$KDIR/pod-resources/kubelet.sock" --node-name lab \
        --policies "$POL/serve.yaml" >"$DET/serve.out" 2>"$DET/serve.err" &
    server=$!
    # a daemon that dies early must not leave the stand-in waiting for a registration
    while kill -0 "$standin" 2>/dev/null; do
        kill -0 "$server" 2>/dev/null || { sleep 2; kill "$standin" 2>/dev/null; break; }
        sleep 0.5
    done
    wait "$standin"; standin_rc=$?
    K=$DET/kubelet.out
    context="$prepared; stand-in exit $standin_rc: $(tail -n 2 "$DET/kubelet.err" | tr '\n' ' ' | cut -c1-200); serve: $(kill -0 $server 2>/dev/null && echo running || echo "exited: $(grep -v '^\s*$' "$DET/serve.err" | sed -n 1,2p | tr '\n' ' ' | cut -c1-200)")"

    grep -q '^registered resource=vfio.example.com/edu ' "$K" && why="" || why="no registration ($context)"
    verdict "${serve_checks[0]}" "$why"
    grep -q "^device id=$EDU_RP health=Healthy" "$K" && why="" \
        || why="not seen Healthy (last: $(grep "^device id=$EDU_RP " "$K" | tail -n 1 | cut -d' ' -f3-); $context; serve's log: $(grep -m1 "$EDU_RP" "$DET/serve.err" | cut -c1-250))"
    verdict "${serve_checks[1]}" "$why"

    why=""
    paths=$(sed -n 's/^allocate-device host=\([^ ]*\) .*/\1/p' "$K")
    [[ -n $paths ]] || why="Allocate returned no device nodes ($context); "
    for p in $paths; do [[ -c $p ]] || why+="$p is not a character device here; "; done
    grep -qx "allocate-device host=/dev/vfio/vfio container=/dev/vfio/vfio permissions=rw" "$K" \
        || why+="no rw /dev/vfio/vfio; "
    grep -qx "allocate-device host=/dev/vfio/$G_EDU_RP container=/dev/vfio/$G_EDU_RP permissions=rw" "$K" \
        || why+="no rw /dev/vfio/$G_EDU_RP; "
    grep -qx "allocate-env PCI_RESOURCE_VFIO_EXAMPLE_COM_EDU=$EDU_RP" "$K" \
        || why+="env PCI_RESOURCE_VFIO_EXAMPLE_COM_EDU is not $EDU_RP; "
    verdict "${serve_checks[2]}" "$why"

    why=""
    group_node=$(sed -n 's/^allocate-device host=\(\/dev\/vfio\/[0-9]*\) .*/\1/p' "$K" | sed -n 1p)
    if [[ -z $group_node ]]; then
        why="no /dev/vfio/<group> in the allocation"
    else
        k=$("$LAB_BIN/vfio-group-status" "$group_node")
        [[ $k == "${group_node##*/} viable" ]] || why="kernel answered: $k"
    fi
    verdict "${serve_checks[3]}" "$why"

    kill "$server" 2>/dev/null
    wait "$server" 2>/dev/null
fi
# ---- 5. uevents: serve hears the kernel (issue 14) ----
# serve runs in a network namespace of its own (unshare -n), as in a pod without hostNetwork: the kernel
# sends device uevents into every network namespace of the initial user namespace. The stand-in only
# watches and stamps each ListAndWatch message (t=, microseconds); a time is from just before the sysfs
# write to that message.
UEV_CHECKS=(
    "uevents: the kernel sends PCI uevents into a network namespace of its own (unshare -n), seen by an independent listener"
    "uevents: serve in its own network namespace listens to the kernel's uevents"
    "uevents: unbind of e1000 $E1000 from vfio-pci, group node kept by $TESTDEV_BR"
    "uevents: e1000 bound to its host driver beside $TESTDEV_BR"
    "uevents: hot-remove of $TESTDEV_RP"
    "uevents: ../rescan brings $TESTDEV_RP back, and a bind to vfio-pci makes it Healthy"
)
UK=$DET/kubelet-uevents.out
UEV_STOP=/tmp/lab-uevents-stop
# uev_seen ID HEALTH T0_NS: the time (us) of the first ListAndWatch message after T0 with ID in HEALTH (waits 30 s)
uev_seen() {
    local t0us=$(($3 / 1000)) t
    for _ in $(seq 150); do
        t=$(awk -v id="id=$1" -v h="health=$2" -v t0="$t0us" \
            '$1 == "device" && $2 == id && $3 == h { split($4, a, "="); if (a[2] + 0 >= t0) { print a[2]; exit } }' "$UK")
        [[ -n $t ]] && { echo "$t"; return 0; }
        sleep 0.2
    done
    return 1
}
# uev_event HEADER_REGEX T0_NS: the time (us) the independent listener got the first uevent after T0 whose header matches
uev_event() {
    awk -v re="$1" -v t0="$(($2 / 1000))" '{ split($1, a, "="); if (a[2] + 0 >= t0 && $2 ~ re) { print a[2]; exit } }' \
        "$DET/uevents-netns.txt"
}
ms_between() { echo "$((($2 - $1) / 1000)).$((($2 - $1) % 1000 / 100))"; } # ms_between T1_US T2_US
# uev_timed FILE VALUE ID HEALTH EVENT [DEVICE]: writes VALUE to FILE, then waits for ListAndWatch to show ID in
# HEALTH; DETAIL says how long after the write began, how long the write itself took, and how long after the
# uevent EVENT of DEVICE (default ID; the first "EVENT@.../DEVICE" the independent listener got) ListAndWatch
# said it; or $why says why not
uev_timed() {
    local t0 t1 seen ev rescan rescans dev=${6:-$3}
    rescans=$(grep -c 'uevents: rescanned' "$DET/serve-uevents.err")
    t0=$(date +%s%N); echo "$2" >"$1"; t1=$(date +%s%N)
    DETAIL=""
    if seen=$(uev_seen "$3" "$4" "$t0"); then
        sleep 0.5 # the listener's line may come after the stand-in's
        ev=$(uev_event "^$5@.*/$dev\$" "$t0")
        rescan=$(grep 'uevents: rescanned' "$DET/serve-uevents.err" | tail -n 1 | sed -n 's/.* in \([0-9]*\) ms$/\1/p')
        # a daemon that only polled (full rescans, the /dev/vfio watch) would get here too, more slowly
        (($(grep -c 'uevents: rescanned' "$DET/serve-uevents.err") > rescans)) \
            || why+="ListAndWatch changed, but serve made no uevent rescan for it (it polled); "
        DETAIL="$3 $4 in ListAndWatch $(ms_between $((t0 / 1000)) "$seen") ms after the write began (the write itself took $(((t1 - t0) / 1000000)) ms); $(
            [[ -n $ev ]] && echo "$(ms_between "$ev" "$seen") ms after the uevent $5 of $dev reached a listener" || echo "uevent $5 of $dev not seen by the listener"); serve's last uevent rescan took ${rescan:-?} ms"
    else
        why+="$3 not $4 in ListAndWatch within 30 s (serve's last word on it: $(grep "$3" "$DET/serve-uevents.err" | tail -n 1 | cut -c1-200)); "
    fi
}
# uev_listen NAME WRAPPER...: an independent listener (Python) in a namespace: $DET/NAME.txt has a line per uevent,
# "t=<microseconds> <ACTION@DEVPATH>", and $DET/NAME.hex the datagrams (hex, one a line)
uev_listen() {
    local name=$1; shift
    "$@" python3 -c '
import os, socket, sys, time
s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 15)
s.bind((0, 1)); s.settimeout(0.5)
out, hexes = open(sys.argv[1] + ".txt", "w"), open(sys.argv[1] + ".hex", "w")
open(sys.argv[1] + ".ready", "w").close()
end = time.time() + 400
while time.time() < end and not os.path.exists(sys.argv[2]):
    try:
        d = s.recv(8192)
    except socket.timeout:
        continue
    out.write("t=%d %s\n" % (time.time_ns() // 1000, d.split(b"\0")[0].decode("latin-1"))); out.flush()
    hexes.write(d.hex() + "\n"); hexes.flush()
' "$DET/$name" "$UEV_STOP" 2>"$DET/$name.err" &
}
if [[ -n $LAB_STANDIN_ERROR ]]; then
    for c in "${UEV_CHECKS[@]}"; do verdict "$c" "kubelet stand-in not available: $LAB_STANDIN_ERROR"; done
else
    say "uevents: apply uevents.yaml, serve in a network namespace of its own"
    rm -f "$UEV_STOP"
    uev_listen uevents-netns unshare -n
    vn apply-uevents apply --policies "$POL/uevents.yaml" --json
    uev_prepared="apply uevents.yaml: $( [[ $(cat "$DET/apply-uevents.rc") == 0 ]] && echo "exit 0" || vn_failure apply-uevents); drivers $TESTDEV_RP $(drv "$TESTDEV_RP"), $E1000 $(drv "$E1000"), $TESTDEV_BR $(drv "$TESTDEV_BR")"
    G_SHARED=$(group_of "$TESTDEV_BR")
    rm -f "$KDIR/device-plugins/kubelet.sock" # check 4's stand-in is gone
    timeout -k 5 400 "${JVM[@]}" -Dorg.slf4j.simpleLogger.defaultLogLevel=error -cp "$LAB_JAR:$LAB_STANDIN_DIR" KubeletStandIn \
        --plugin-dir "$KDIR/device-plugins" --pod-resources-socket "$KDIR/pod-resources/kubelet.sock" \
        --resource vfio.example.com/lab --stop-file "$UEV_STOP" --timeout 380 >"$UK" 2>"$DET/kubelet-uevents.err" &
    uev_standin=$!
    for _ in $(seq 300); do [[ -S $KDIR/device-plugins/kubelet.sock ]] && break; sleep 0.1; done
    # (the debug line "uevents: rescanned N device(s) ... in T ms" gives the daemon's own part of each time)
    unshare -n timeout -k 5 400 "${JVM[@]}" -XX:ErrorFile="$DET/hs_err_serve-uevents_%p.log" \
        -Dorg.slf4j.simpleLogger.log.com.example.vfio.agent.NodeDaemon=debug -jar "$LAB_JAR" serve \
        --plugin-dir "$KDIR/device-plugins" --pod-resources-socket "$KDIR/pod-resources/kubelet.sock" --node-name lab \
        --policies "$POL/uevents.yaml" --metrics-port 0 >"$DET/serve-uevents.out" 2>"$DET/serve-uevents.err" &
    uev_server=$!
    ready=""
    for _ in $(seq 750); do # 150 s for the JVMs to start under emulation
        ready=yes
        for a in "$TESTDEV_RP" "$E1000" "$TESTDEV_BR"; do grep -q "^device id=$a health=Healthy" "$UK" || ready=""; done
        [[ -n $ready ]] && break
        kill -0 "$uev_server" 2>/dev/null || break
        sleep 0.2
    done
    uev_context="$uev_prepared; serve: $(kill -0 $uev_server 2>/dev/null && echo running || echo "exited: $(grep -v '^\s*$' "$DET/serve-uevents.err" | tail -n 2 | tr '\n' ' ' | cut -c1-250)")"
    sleep 1 # let the first rescans settle

    # 5.0 the daemon listens, from a network namespace that is not the guest's
    why=""
    [[ -n $ready ]] || why+="not all of $TESTDEV_RP $E1000 $TESTDEV_BR Healthy in ListAndWatch ($uev_context); "
    grep -q "listening to kernel uevents" "$DET/serve-uevents.err" \
        || why+="serve's log does not say it listens: $(grep -m1 'uevents' "$DET/serve-uevents.err" | cut -c1-250); "
    [[ $(readlink "/proc/$uev_server/ns/net") != "$(readlink /proc/self/ns/net)" ]] || why+="serve runs in the guest's network namespace; "
    verdict "${UEV_CHECKS[1]}" "$why"

    # 5.1 sysfs only: 03:01.0 leaves vfio-pci; 03:02.0 stays on it, so /dev/vfio/<group> stays
    why=""
    [[ $(drv "$E1000") == vfio-pci ]] || why+="$E1000 is on $(drv "$E1000"), not vfio-pci; "
    uev_timed /sys/bus/pci/drivers/vfio-pci/unbind "$E1000" "$E1000" Unhealthy unbind
    [[ -c /dev/vfio/$G_SHARED ]] || why+="/dev/vfio/$G_SHARED went away (the check needs it kept); "
    verdict "${UEV_CHECKS[2]}: $DETAIL" "$why"

    # 5.2 a host driver joins the group: 03:02.0, still on vfio-pci, is no longer usable
    why=""
    echo >"$SYS/$E1000/driver_override"
    uev_timed /sys/bus/pci/drivers/e1000/bind "$E1000" "$TESTDEV_BR" Unhealthy bind "$E1000"
    [[ $(drv "$E1000") == e1000 ]] || why+="the kernel did not bind e1000 to $E1000 (on $(drv "$E1000")); "
    verdict "${UEV_CHECKS[3]}: $DETAIL" "$why"

    # 5.3 hot-remove, then the parent's rescan
    why=""
    parent=$(dirname "$(readlink -f "$SYS/$TESTDEV_RP")")
    uev_timed "$SYS/$TESTDEV_RP/remove" 1 "$TESTDEV_RP" Unhealthy unbind
    [[ ! -e $SYS/$TESTDEV_RP ]] || why+="$TESTDEV_RP is still in sysfs; "
    verdict "${UEV_CHECKS[4]}: $DETAIL" "$why"

    why=""
    echo 1 >"$parent/rescan"
    [[ -e $SYS/$TESTDEV_RP ]] || why+="$parent/rescan did not bring $TESTDEV_RP back; "
    back=""
    for _ in $(seq 150); do grep -q "$TESTDEV_RP.*not bound to any driver" "$DET/serve-uevents.err" && { back=yes; break; }; sleep 0.2; done
    [[ -n $back ]] || why+="serve did not read it again after the rescan (log: $(grep "$TESTDEV_RP" "$DET/serve-uevents.err" | tail -n 1 | cut -c1-200)); "
    echo vfio-pci >"$SYS/$TESTDEV_RP/driver_override"
    uev_timed /sys/bus/pci/drivers_probe "$TESTDEV_RP" "$TESTDEV_RP" Healthy bind
    [[ $(drv "$TESTDEV_RP") == vfio-pci ]] || why+="the kernel did not bind it to vfio-pci; "
    verdict "${UEV_CHECKS[5]}: $DETAIL" "$why"

    # 5.x the kernel's rule the chart relies on, seen by two independent listeners
    touch "$UEV_STOP"; sleep 1
    wait "$uev_standin" 2>/dev/null
    kill "$uev_server" 2>/dev/null; wait "$uev_server" 2>/dev/null
    wait 2>/dev/null # the two listeners
    why=""
    [[ -f $DET/uevents-netns.ready ]] || why+="the listener did not start: $(tail -n 2 "$DET/uevents-netns.err" 2>/dev/null | tr '\n' ' ' | cut -c1-200); "
    in_netns=$(grep -c ' [a-z]*@/devices/pci' "$DET/uevents-netns.txt" 2>/dev/null)
    ((${in_netns:-0} > 0)) || why+="no PCI uevent reached it; "
    verdict "${UEV_CHECKS[0]}: ${in_netns:-0} uevents of PCI devices during these checks" "$why"
    # (The other half of the kernel's rule, no device uevents into a network namespace owned by another user
    # namespace, cannot be shown here: the checks run in a chroot, where the kernel refuses CLONE_NEWUSER.)

    # give the lab's devices back
    lab_release "$TESTDEV_RP"; lab_release "$TESTDEV_BR"
    [[ $(drv "$E1000") == e1000 ]] || { lab_release "$E1000"; }
fi

source "$IN/dra-checks.sh" # 6. DRA (a block of its own)
echo DONE >>"$CHECKS"
