#!/bin/busybox sh
# /init of the guest that tests/vm.py boots (busybox sh, in the initramfs). It loads the
# modules, makes the root an overlay of the host's / (9p, read-only) with its upper layer on
# the scratch disk, mounts the job share, proc, sys, dev and cgroup2 there, runs the job's
# run.sh in that root and reboots (QEMU runs with -no-reboot, so it exits). @MODULES@ is
# filled in by tests/vm.py with the module files in load order.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev

fail() {
    echo "danube-vm: $*"
    reboot -f
}

echo "danube-vm: init"
for mod in @MODULES@; do
    insmod "/modules/$mod" || fail "insmod $mod failed"
done

# virtio_blk probes as it loads, but give the device node a moment to appear.
i=0
while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
mount -t ext4 /dev/vda /scratch || fail "cannot mount the scratch disk"
mkdir -p /scratch/upper /scratch/work
# cache=loose: the share is read-only and nothing in it changes during a run that matters.
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /host \
    || fail "cannot mount the host's / over 9p"
mount -t overlay overlay -o lowerdir=/host,upperdir=/scratch/upper,workdir=/scratch/work \
    /newroot || fail "cannot mount the overlay root"

R=/newroot
# The host's container marker is not the guest's: the guest is a VM with a v2 host's view.
rm -f $R/.dockerenv
mount -t proc proc $R/proc
mount -t sysfs sys $R/sys
mount -t devtmpfs dev $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts devpts $R/dev/pts
mount -t tmpfs shm $R/dev/shm
mount -t tmpfs run $R/run
mkdir -p $R/run/danube-vm
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 job $R/run/danube-vm \
    || fail "cannot mount the job share"
mount -t cgroup2 -o nsdelegate cgroup2 $R/sys/fs/cgroup || fail "cannot mount cgroup2"
echo "+cpu +cpuset +io +memory +pids" > $R/sys/fs/cgroup/cgroup.subtree_control \
    || fail "cannot enable the controllers at the root"

J=$R/run/danube-vm
echo started > $J/started
chroot $R /bin/sh /run/danube-vm/run.sh > $J/stdout 2> $J/stderr
echo $? > $J/status
sync
echo "danube-vm: done"
reboot -f
