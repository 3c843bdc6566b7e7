# Guest boot harness (sourced by run). Needs lib.sh and KVER.

# initramfs: busybox + the 9p modules of the lab kernel + guest/init. Rebuilt when an input changes.
lab_build_initramfs() {
    local out=$WORK_DIR/initramfs.cpio.gz stamp=$WORK_DIR/initramfs.stamp key
    key="$KVER $(sha256sum "$LAB_DIR/guest/init" /bin/busybox "$LAB_MODULES.stamp" | sha256sum)"
    if [[ -f $out && -f $stamp && $(cat "$stamp") == "$key" ]]; then return; fi
    local t=$WORK_DIR/initramfs.d
    rm -rf "$t"; mkdir -p "$t"/{bin,proc,sys,dev,newroot,modules}
    cp /bin/busybox "$t/bin/busybox"
    for app in sh mount umount insmod chroot timeout poweroff cat cut echo sync mkdir sleep ip ln; do
        ln -s busybox "$t/bin/$app"
    done
    cp "$LAB_DIR/guest/init" "$t/init"; chmod +x "$t/init"
    local i=0 m
    # modprobe lists the insmod lines in dependency order; prefix keeps that order in the glob.
    while read -r _ m _; do
        [[ $m == *.ko* ]] || continue
        i=$((i + 1))
        case $m in
            *.xz) xz -dc "$m" ;;
            *.zst) zstd -dc "$m" ;;
            *) cat "$m" ;;
        esac >"$t/modules/$(printf %02d $i)-$(basename "${m%%.ko*}").ko"
    done < <(modprobe -d "$LAB_MODULES" -S "$KVER" -a --show-depends 9p 9pnet_virtio | awk '!seen[$2]++')
    ((i >= 3)) || die "could not find the 9p modules of $KVER"
    (cd "$t" && find . | cpio -o -H newc --quiet | gzip -1) >"$out.tmp"
    mv "$out.tmp" "$out"; echo "$key" >"$stamp"
}

# QEMU's PCI topology for the lab (bus numbers as the guest firmware assigns them):
#   00:02.0 pcie-root-port -> 01:00.0 edu (1234:11e8)          target of the variant driver (driver: auto)
#   00:03.0 pcie-root-port -> 02:00.0 pci-testdev (1b36:0005)  target of plain vfio-pci
#   00:04.0 pcie-pci-bridge -> 03:01.0 e1000 (8086:100e), 03:02.0 pci-testdev: one shared IOMMU group
#   00:05.0 edu on the root bus: a group of its own
# plus q35's own devices and the four virtio-9p transports (the guest's file systems).
LAB_QEMU_DEVICES=(
    -device intel-iommu
    -device pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1,addr=0x2
    -device edu,bus=rp1,addr=0x0
    -device pcie-root-port,id=rp2,bus=pcie.0,chassis=2,slot=2,addr=0x3
    -device pci-testdev,bus=rp2,addr=0x0
    -device pcie-pci-bridge,id=br1,bus=pcie.0,addr=0x4
    -device e1000,bus=br1,addr=0x1
    -device pci-testdev,bus=br1,addr=0x2
    -device edu,bus=pcie.0,addr=0x5
)

# lab_boot INPUT_DIR SCRIPT RESULTS_DIR TIMEOUT_S: boots a guest (with LAB_QEMU_EXTRA's devices too, when set)
# that sees INPUT_DIR read-only at /run/lab, RESULTS_DIR read-write at /run/lab-results and the lab's module
# tree ($LAB_MODULES) at /lib/modules, and runs /run/lab/SCRIPT inside its chroot of the host root. Console
# goes to RESULTS_DIR/console.log. Never runs longer than TIMEOUT_S.
# no_timer_check: on a busy host the emulated CPU can miss the IO-APIC timer test, and the
# kernel then panics ("timer doesn't work through Interrupt-remapped IO-APIC"); seen here.
# No AVX: QEMU 7.2 was the first to emulate AVX/AVX2 in TCG, and a JIT-compiled JVM method
# crashed with SIGSEGV under it here; without AVX the JVM and glibc use SSE code paths.
lab_boot() {
    local input=$1 script=$2 results=$3 limit=$4
    local inner=$((limit - 15))
    timeout -k 5 "$limit" qemu-system-x86_64 \
        -accel tcg,thread=multi -machine q35 -cpu max,avx=off,avx2=off,fma=off,f16c=off -smp "${LAB_CPUS:-2}" -m "${LAB_MEM:-2048}" \
        -nodefaults -no-user-config -display none -no-reboot \
        -serial "file:$results/console.log" \
        -kernel "/boot/vmlinuz-$KVER" -initrd "$WORK_DIR/initramfs.cpio.gz" \
        -append "console=ttyS0 intel_iommu=on iommu=pt panic=-1 no_timer_check quiet lab.script=$script lab.timeout=$inner" \
        -fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap \
        -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot,bus=pcie.0,addr=0x10 \
        -fsdev "local,id=labin,path=$input,security_model=none,readonly=on,multidevs=remap" \
        -device virtio-9p-pci,fsdev=labin,mount_tag=labin,bus=pcie.0,addr=0x12 \
        -fsdev "local,id=results,path=$results,security_model=none,multidevs=remap" \
        -device virtio-9p-pci,fsdev=results,mount_tag=results,bus=pcie.0,addr=0x11 \
        -fsdev "local,id=labmodules,path=$LAB_MODULES/lib/modules,security_model=none,readonly=on,multidevs=remap" \
        -device virtio-9p-pci,fsdev=labmodules,mount_tag=labmodules,bus=pcie.0,addr=0x13 \
        "${LAB_QEMU_DEVICES[@]}" ${LAB_QEMU_EXTRA[@]+"${LAB_QEMU_EXTRA[@]}"} \
        </dev/null >"$results/qemu.log" 2>&1
}
