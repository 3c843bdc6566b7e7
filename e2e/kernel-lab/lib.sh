# Shared by setup and run (sourced, not executed).
LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK_DIR=${LAB_WORK_DIR:-$LAB_DIR/work}
# The guest's /lib/modules: the kernel package's modules plus the lab's driver (setup makes it).
LAB_MODULES=$WORK_DIR/modules
KERNEL_META=linux-image-6.12-amd64
HEADERS_META=linux-headers-6.12-amd64
LAB_PACKAGES=(qemu-system-x86 busybox-static cpio kmod tiny-initramfs gcc make libc6-dev jq
              "$KERNEL_META" "$HEADERS_META"
              openssl curl) # the DRA check's API server on the host (dra.sh)

log() { printf '[kernel-lab %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The exact kernel release the 6.12 meta package points at, e.g. 6.12.117+deb12-amd64.
lab_kernel_release() {
    local dep
    dep=$(dpkg-query -W -f='${Depends}' "$KERNEL_META" 2>/dev/null) || return 1
    dep=${dep%% *}
    [[ $dep == linux-image-* ]] || return 1
    echo "${dep#linux-image-}"
}

# The pids of other kernel labs at work on this machine (other clones included): their run or setup
# scripts, and QEMU guests booting the lab's kernel. This shell and its ancestors are not counted; no
# process is started while /proc is read, so none of ours can be mistaken for another lab.
lab_others_running() {
    local kver self=$BASHPID ours=" " f p cmd found="" args
    kver=$(lab_kernel_release) || return 0
    while [[ -n $self && $self -gt 1 ]]; do
        ours+="$self "
        self=$(awk '{print $4}' "/proc/$self/stat" 2>/dev/null) || break
    done
    for f in /proc/[0-9]*/cmdline; do
        p=${f#/proc/}; p=${p%/cmdline}
        [[ $ours == *" $p "* ]] && continue
        { mapfile -d '' -t args <"$f"; } 2>/dev/null || continue
        cmd=" ${args[*]} "
        if [[ $cmd == *kernel-lab/run\ * || $cmd == *kernel-lab/setup\ * \
            || ($cmd == *qemu-system* && $cmd == *" -kernel /boot/vmlinuz-$kver "*) ]]; then
            found+=" $p"
        fi
    done
    echo "${found# }"
}

# The files the kernel package installed under /lib/modules/<release> (the guest's tree links to them).
lab_package_module_files() {
    dpkg-query -L "linux-image-$1" | sed -n "s|^/\(usr/\)\{0,1\}\(lib/modules/$1/.*\)|/\2|p"
}

# What identifies a module tree's content cheaply: every path with its size and modification time.
lab_tree_fingerprint() {
    find "$1" -printf '%P %s %T@\n' 2>/dev/null | sort | sha256sum | cut -d' ' -f1
}

# The same for the kernel package's own files (size, modification time, inode: a write through one of
# the guest tree's links would show).
lab_package_fingerprint() {
    lab_package_module_files "$1" | xargs -d '\n' stat -c '%n %s %Y %i' 2>/dev/null | sort | sha256sum | cut -d' ' -f1
}
