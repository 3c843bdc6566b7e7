# Shared by setup and run (sourced, not executed).
LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK_DIR=${LAB_WORK_DIR:-$LAB_DIR/work}
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
