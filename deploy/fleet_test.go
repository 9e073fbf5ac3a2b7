package deploy

// This file owns running a fleet the way a manifest describes it, without
// containers: a real Locust master with the manifest's command line,
// reading the locustfile at the path the manifest mounts it, and as many
// workers as the manifest's replicas with their command line and
// environment, all in a network and mount namespace of their own where
// the master's service name is the master's loopback address. The master
// must see every worker register.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golocust/golocust/internal/locusttest"
)

// fleet is what a manifest says about a master and its workers.
type fleet struct {
	masterArgs []string
	locustfile string // the file the master's volume holds, in the repository
	mountedAt  string // where the master's -f reads it
	masterName string // the name workers dial
	workers    int
	workerArgs []string
	workerEnv  map[string]string
}

// composeFleet reads deploy/compose.yaml's master and worker.
func composeFleet(t *testing.T) fleet {
	t.Helper()
	f := loadCompose(t)
	ms, ok := f.Services["master"]
	ws, okWorker := f.Services["worker"]
	if !ok || !okWorker || ws.Deploy == nil || ws.Deploy.Replicas == nil {
		t.Fatal("compose.yaml: the fleet test expects the services master and worker, with deploy.replicas")
	}
	m := readMaster(t, ms.Image, ms.Command)
	return fleet{
		masterArgs: ms.Command, locustfile: composeLocustfile(t, ms, m.locustfile), mountedAt: m.locustfile,
		masterName: "master", workers: *ws.Deploy.Replicas, workerArgs: ws.Command, workerEnv: ws.Environment,
	}
}

// kubeFleet reads deploy/kubernetes's master, its Service, the guide's
// ConfigMap and the workers.
func kubeFleet(t *testing.T) fleet {
	t.Helper()
	c := loadCluster(t)
	master, workers := splitDeployments(t, c)
	mc := master.Spec.Template.Spec.Containers[0]
	m := readMaster(t, mc.Image, mc.Args)
	svc := masterService(t, c, master)
	if strconv.Itoa(servicePortTo(svc, mc, m.bindPort)) != m.bindPort {
		t.Skipf("Service %s maps another port to %s: loopback has no such mapping", svc.Metadata.Name, m.bindPort)
	}
	_, _, file := guideConfigMap(t)
	w := workers[0]
	wc := w.Spec.Template.Spec.Containers[0]
	env := map[string]string{}
	for _, e := range wc.Env {
		env[e.Name] = e.Value
	}
	return fleet{
		masterArgs: mc.Args, locustfile: file, mountedAt: m.locustfile,
		masterName: svc.Metadata.Name, workers: *w.Spec.Replicas, workerArgs: wc.Args, workerEnv: env,
	}
}

// namespaceSetup makes the namespace: loopback up, a hosts file that
// names the master, a tmpfs over the top directory of the mount point
// (so that nothing is created outside the namespace), and the locustfile
// bound where the master reads it. Its arguments: hosts file, tmpfs
// directory, locustfile, mount point.
const namespaceSetup = `set -e
ip link set lo up
mount --bind "$1" /etc/hosts
mount -t tmpfs tmpfs "$2"
mkdir -p "$(dirname "$4")"
touch "$4"
mount --bind "$3" "$4"
echo namespace ready
exec sleep 300
`

// runFleet starts the fleet f with the worker binary bin and waits until
// the master has seen every worker register.
func runFleet(t *testing.T, bin string, f fleet) {
	locust := locusttest.Locust(t)
	if err := exec.Command("unshare", "--net", "--mount", "--", "true").Run(); err != nil {
		t.Skipf("unshare --net --mount does not work here (%v): the fleet was not started", err)
	}
	top := "/" + strings.Split(strings.TrimPrefix(f.mountedAt, "/"), "/")[0]
	if top != "/mnt" {
		t.Skipf("the master reads %s: the fleet test mounts only under /mnt", f.mountedAt)
	}
	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hosts, []byte("127.0.0.1 localhost "+f.masterName+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	source, err := filepath.Abs(filepath.Join("..", f.locustfile))
	if err != nil {
		t.Fatal(err)
	}
	ns := locusttest.Start(t, dir, "unshare", "--net", "--mount", "--", "sh", "-c", namespaceSetup, "sh", hosts, top, source, f.mountedAt)
	ns.Output.WaitFor(t, "namespace ready", 1, 10*time.Second)
	enter := []string{"-t", strconv.Itoa(ns.Cmd.Process.Pid), "--net", "--mount", "--"}

	master := locusttest.Start(t, dir, "nsenter", append(append(enter, locust), f.masterArgs...)...)
	start := time.Now()
	for range f.workers {
		env := append([]string{"-i"}, containerEnv(dir, f.workerEnv)...)
		args := append(append(append(enter, "env"), env...), bin)
		locusttest.Start(t, dir, "nsenter", append(args, f.workerArgs...)...)
	}
	waitForWorkers(t, master, f.workers, 60*time.Second)
	t.Logf("the master (%s) saw %d workers dialling %q register after %v", strings.Join(f.masterArgs, " "), f.workers, f.masterName, time.Since(start).Round(time.Millisecond))
}

// waitForWorkers waits until the master has logged n workers as ready,
// failing at once if it exits first.
func waitForWorkers(t *testing.T, master *locusttest.Process, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for master.Output.Count("reported as ready") < n {
		select {
		case <-master.Done():
			t.Fatalf("the master exited before %d workers registered:\n%s", n, master.Output.String())
		case <-deadline:
			t.Fatalf("%d of %d workers registered within %v:\n%s", master.Output.Count("reported as ready"), n, timeout, master.Output.String())
		case <-tick.C:
		}
	}
}
