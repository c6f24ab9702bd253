package kerneltest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Requirements reports what the kernel lab needs and this machine lacks,
// one human-readable item per missing thing, and whether nft (preferred)
// or iptables will install the masquerade rule. An empty list means the
// lab can run.
func Requirements() (missing []string, useNft bool) {
	if os.Geteuid() != 0 {
		missing = append(missing, "root (network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN)")
	}
	if !have("ip") {
		missing = append(missing, "ip (apt-get install iproute2)")
	}
	if !have("ethtool") {
		missing = append(missing, "ethtool (apt-get install ethtool)")
	}
	useNft = have("nft")
	if !useNft && !have("iptables") {
		missing = append(missing, "nft or iptables (apt-get install nftables)")
	}
	if _, err := os.Stat("/proc/sys/net/netfilter"); err != nil && os.Geteuid() == 0 {
		// Loading the masquerade rule loads nf_conntrack on demand, so
		// this is only a hint; the lab's setup reports the real failure.
		_ = exec.Command("modprobe", "nf_conntrack").Run()
	}
	return missing, useNft
}

// have reports whether command is on PATH or in the sbin directories,
// which are not always on a non-login root PATH.
func have(command string) bool {
	if _, err := exec.LookPath(command); err == nil {
		return true
	}
	for _, dir := range []string{"/usr/sbin/", "/sbin/"} {
		if st, err := os.Stat(dir + command); err == nil && st.Mode()&0o111 != 0 {
			return true
		}
	}
	return false
}

// tool returns the path to run command by, preferring PATH.
func tool(command string) string {
	if p, err := exec.LookPath(command); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin/", "/sbin/"} {
		if _, err := os.Stat(dir + command); err == nil {
			return dir + command
		}
	}
	return command
}

// Gate decides whether the kernel lab test name runs here. It skips t
// with a message naming what is missing (root, ip, ethtool, nft or
// iptables, and with hosts the conntrack tool) or, under CI=true, fails
// it, so a CI machine without the tools cannot pass silently. Outside CI
// it also skips in -short mode, saying the test takes about takes. It
// returns whether to install masquerade with nftables:
// NATSIM_KERNEL_MASQ=iptables exercises the iptables fallback on a
// machine that has nft too.
func Gate(t testing.TB, name string, hosts bool, takes time.Duration) (useNft bool) {
	t.Helper()
	inCI := os.Getenv("CI") == "true"
	missing, useNft := Requirements()
	if hosts {
		missing, useNft = HostRequirements()
	}
	if len(missing) > 0 {
		msg := name + " needs: " + strings.Join(missing, "; ") +
			" (install the tools with .ci/kernel-deps.sh; run the test as root)"
		if inCI {
			t.Fatal(msg + "; CI=true, so a missing dependency is a failure")
		}
		t.Skip(msg)
	}
	if os.Getenv("NATSIM_KERNEL_MASQ") == "iptables" {
		useNft = false
	}
	if testing.Short() && !inCI {
		t.Skipf("%s takes about %v; skipped in -short mode", name, takes)
	}
	return useNft
}

// Build builds a lab as o asks for test t (New), fails t when it cannot,
// removes the lab when t ends and logs how masquerade was installed.
func Build(t testing.TB, o Options) *Lab {
	t.Helper()
	lab, err := New(o)
	if err != nil {
		t.Fatalf("building the kernel NAT lab: %v", err)
	}
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Errorf("removing the kernel NAT lab: %v", err)
		}
	})
	t.Logf("kernel NAT: masquerade via %s", lab.Backend)
	return lab
}
