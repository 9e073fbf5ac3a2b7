package deploy

// This file owns the tests of the manifests: they parse strictly, the
// workers name the address the master exposes, run as non-root with their
// limits set, pair with the master's locustfile, and every docker compose
// and kubectl command of docs/deploy.md names what the manifests define.

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var (
	composePath = "compose.yaml"
	kubeDir     = "kubernetes"
)

// Locust's defaults, which a master's command line may change.
const (
	locustMasterPort = "5557"
	locustWebPort    = "8089"
)

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	f, err := readCompose(composePath)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func loadCluster(t *testing.T) cluster {
	t.Helper()
	var c cluster
	files, err := filepath.Glob(filepath.Join(kubeDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s (%v)", kubeDir, err)
	}
	for _, f := range files {
		if _, err := c.addManifests(f); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// TestManifestsParseStrictly reads every YAML file under deploy/ with the
// types of the fields it may use: Compose's file and each Kubernetes
// document by its kind.
func TestManifestsParseStrictly(t *testing.T) {
	var files []string
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var c cluster
	for _, f := range files {
		switch {
		case f == composePath:
			if _, err := readCompose(f); err != nil {
				t.Error(err)
			}
		case filepath.Dir(f) == kubeDir:
			n, err := c.addManifests(f)
			if err != nil {
				t.Error(err)
			}
			t.Logf("%s: %d documents", f, n)
		default:
			t.Errorf("%s: a YAML file the test does not read (add it to TestManifestsParseStrictly)", f)
		}
	}
	if !slices.Contains(files, composePath) || len(c.deployments) < 2 || len(c.services) < 1 {
		t.Errorf("read %v: %d Deployments, %d Services; want compose.yaml, 2 Deployments and a Service", files, len(c.deployments), len(c.services))
	}
}

// TestStrictDecodingRefusesUnknownFields shows that the strict reading
// catches what a loose one would ignore: a misspelt field, a field in the
// wrong place, a second document.
func TestStrictDecodingRefusesUnknownFields(t *testing.T) {
	bad := map[string]string{
		"misspelt replicas": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\nspec:\n  replica: 3\n",
		"misplaced args":    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\nspec:\n  template:\n    spec:\n      args: [x]\n",
		"second document":   "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\nkind: Service\n",
	}
	for name, doc := range bad {
		var d deployment
		if err := strictDecode([]byte(doc), &d); err == nil {
			t.Errorf("%s: decoded without an error", name)
		}
	}
	var compose composeFile
	if err := strictDecode([]byte("services:\n  w:\n    ulimit:\n      nofile: 10\n"), &compose); err == nil {
		t.Error("Compose ulimit (for ulimits): decoded without an error")
	}
	var c cluster
	if err := c.add([]byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n")); err == nil {
		t.Error("a Pod: accepted, but the test has no types for it")
	}
}

// locustMaster is what a master's command line says: where it binds for
// workers, where it serves its UI, the locustfile it reads.
type locustMaster struct {
	bindPort, webPort, locustfile string
}

func readMaster(t *testing.T, image string, args []string) locustMaster {
	t.Helper()
	checkLocustImage(t, image)
	if !hasOption(args, "master") {
		t.Errorf("master command %q has no --master", args)
	}
	m := locustMaster{bindPort: locustMasterPort, webPort: locustWebPort}
	if v, ok := optionValue(args, "master-bind-port"); ok {
		m.bindPort = v
	}
	if v, ok := optionValue(args, "web-port"); ok {
		m.webPort = v
	}
	m.locustfile, _ = optionValue(args, "f")
	if m.locustfile == "" {
		t.Errorf("master command %q names no locustfile (-f)", args)
	}
	return m
}

// checkLocustImage checks the master runs Locust's image at a pinned
// version whose wire traffic the protocol tests replay.
func checkLocustImage(t *testing.T, image string) {
	t.Helper()
	version, ok := strings.CutPrefix(image, "locustio/locust:")
	if _, err := os.Stat(filepath.Join("..", "protocol", "testdata", "captures", version)); !ok || err != nil {
		t.Errorf("master image %q: want locustio/locust:VERSION with VERSION one of protocol/testdata/captures", image)
	}
}

// workerAddress returns the master host and port a worker's command line
// and environment name (the command line wins, as in worker/flags.go).
func workerAddress(args []string, env map[string]string) (host, port string) {
	host, port = env["LOCUST_MASTER_NODE_HOST"], env["LOCUST_MASTER_NODE_PORT"]
	if v, ok := optionValue(args, "master-host"); ok {
		host = v
	}
	if v, ok := optionValue(args, "master-port"); ok {
		port = v
	}
	if port == "" {
		port = locustMasterPort
	}
	return host, port
}

// checkMemoryLimits checks GOMEMLIMIT is set and under the container's
// memory limit.
func checkMemoryLimits(t *testing.T, who, goMemLimit string, limit int64) {
	t.Helper()
	soft, err := goMemLimitBytes(goMemLimit)
	if err != nil || soft <= 0 || soft >= limit {
		t.Errorf("%s: GOMEMLIMIT %q (%v) must be under the memory limit of %d bytes", who, goMemLimit, err, limit)
	}
}

// TestComposeWorkersReachMaster checks deploy/compose.yaml: the workers
// dial the master's service name and bind port, are built from the
// example whose locustfile the master mounts where its -f reads it, run
// as non-root with nofile and memory limits, and there are several.
func TestComposeWorkersReachMaster(t *testing.T) {
	f := loadCompose(t)
	var masterName string
	for name, s := range f.Services {
		if strings.HasPrefix(s.Image, "locustio/locust") {
			if masterName != "" {
				t.Fatalf("two masters: %s and %s", masterName, name)
			}
			masterName = name
		}
	}
	if masterName == "" {
		t.Fatal("no service runs locustio/locust")
	}
	ms := f.Services[masterName]
	m := readMaster(t, ms.Image, ms.Command)
	if !slices.ContainsFunc(ms.Ports, func(p string) bool { return strings.HasSuffix(p, ":"+m.webPort) }) {
		t.Errorf("master ports %q do not publish the web UI's %s", ms.Ports, m.webPort)
	}
	locustfile := composeLocustfile(t, ms, m.locustfile)
	workers := 0
	for name, s := range f.Services {
		if name == masterName {
			continue
		}
		workers++
		checkComposeWorker(t, name, s, masterName, m.bindPort, locustfile)
	}
	if workers == 0 {
		t.Fatal("no worker service")
	}
}

// composeLocustfile returns the repository path of the file the master
// mounts where its -f reads, which must exist.
func composeLocustfile(t *testing.T, ms composeService, want string) string {
	t.Helper()
	for _, v := range ms.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || parts[1] != want {
			continue
		}
		src := filepath.Join(".", parts[0]) // relative to the Compose file's directory
		if _, err := os.Stat(src); err != nil {
			t.Fatalf("master volume %q: %v", v, err)
		}
		return filepath.ToSlash(filepath.Clean(filepath.Join("deploy", src)))
	}
	t.Fatalf("no master volume mounts its locustfile %s (volumes %q)", want, ms.Volumes)
	return ""
}

func checkComposeWorker(t *testing.T, name string, s composeService, masterName, masterPort, locustfile string) {
	host, port := workerAddress(s.Command, s.Environment)
	if host != masterName || port != masterPort {
		t.Errorf("worker %s dials %s:%s, the master is %s:%s", name, host, port, masterName, masterPort)
	}
	if s.Build == nil {
		t.Fatalf("worker %s has no build", name)
	}
	if _, err := os.Stat(filepath.Join(s.Build.Context, s.Build.Dockerfile)); err != nil {
		t.Errorf("worker %s build: %v", name, err)
	}
	pkg := s.Build.Args["PACKAGE"]
	if pkgDir := filepath.ToSlash(filepath.Clean(pkg)); pkgDir != filepath.ToSlash(filepath.Dir(locustfile)) {
		t.Errorf("worker %s builds %q but the master reads %s: the classes must be the same example's", name, pkg, locustfile)
	}
	if b := guideDockerBuild(t); s.Image != b.tag || pkg != b.args["PACKAGE"] {
		t.Errorf("worker %s is image %q from PACKAGE %q; the guide builds %q from %q", name, s.Image, pkg, b.tag, b.args["PACKAGE"])
	}
	if s.User != "" && (s.User == "root" || strings.HasPrefix(s.User, "0")) {
		t.Errorf("worker %s runs as user %q", name, s.User)
	}
	if nofile := s.Ulimits["nofile"]; nofile.Soft < 65536 || nofile.Hard < nofile.Soft {
		t.Errorf("worker %s ulimits nofile %+v: want soft ≥ 65536 and hard ≥ soft", name, nofile)
	}
	if s.Deploy == nil || s.Deploy.Replicas == nil || *s.Deploy.Replicas < 2 {
		t.Fatalf("worker %s: want deploy.replicas ≥ 2 (a fleet)", name)
	}
	limit, err := composeBytes(s.Deploy.Resources.Limits.Memory)
	if err != nil {
		t.Fatalf("worker %s memory limit: %v", name, err)
	}
	checkMemoryLimits(t, "worker "+name, s.Environment["GOMEMLIMIT"], limit)
}

// TestKubernetesWorkersReachMaster checks deploy/kubernetes: the workers
// dial a Service that selects the master pod on a port that targets the
// master's bind port, the Service also serves the web UI, the master reads
// its locustfile from the ConfigMap the guide makes, and the workers run
// as non-root, several, with memory limits.
func TestKubernetesWorkersReachMaster(t *testing.T) {
	c := loadCluster(t)
	master, workers := splitDeployments(t, c)
	mc := master.Spec.Template.Spec.Containers[0]
	m := readMaster(t, mc.Image, mc.Args)
	for _, d := range c.deployments {
		if !subset(d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) || len(d.Spec.Selector.MatchLabels) == 0 {
			t.Errorf("Deployment %s: its selector does not select its own pods", d.Metadata.Name)
		}
	}
	svc := masterService(t, c, master)
	if p := servicePortTo(svc, mc, m.webPort); p == 0 {
		t.Errorf("Service %s has no port to the master's web UI (%s)", svc.Metadata.Name, m.webPort)
	}
	checkConfigMap(t, master, mc, m.locustfile)
	for _, w := range workers {
		checkKubeWorker(t, w, svc, mc, m.bindPort)
	}
}

// splitDeployments returns the Deployment of Locust's image (one, with
// one replica and one container) and the others.
func splitDeployments(t *testing.T, c cluster) (master deployment, workers []deployment) {
	t.Helper()
	var masters []deployment
	for _, d := range c.deployments {
		if len(d.Spec.Template.Spec.Containers) != 1 {
			t.Fatalf("Deployment %s has %d containers, the test expects 1", d.Metadata.Name, len(d.Spec.Template.Spec.Containers))
		}
		if strings.HasPrefix(d.Spec.Template.Spec.Containers[0].Image, "locustio/locust") {
			masters = append(masters, d)
		} else {
			workers = append(workers, d)
		}
	}
	if len(masters) != 1 || len(workers) == 0 {
		t.Fatalf("%d master Deployments and %d worker Deployments, want 1 and at least 1", len(masters), len(workers))
	}
	if r := masters[0].Spec.Replicas; r == nil || *r != 1 {
		t.Errorf("master Deployment: want replicas: 1 (workers would split between masters)")
	}
	return masters[0], workers
}

// subset reports whether every label of sel is in labels.
func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// masterService returns the one Service that selects the master's pods.
func masterService(t *testing.T, c cluster, master deployment) service {
	t.Helper()
	var found []service
	for _, s := range c.services {
		if len(s.Spec.Selector) > 0 && subset(s.Spec.Selector, master.Spec.Template.Metadata.Labels) {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d Services select the master's pods, want 1", len(found))
	}
	return found[0]
}

// servicePortTo returns the Service's port whose target is the
// container's port number want (by number or by the port's name), or 0.
func servicePortTo(s service, c container, want string) int {
	for _, sp := range s.Spec.Ports {
		for _, cp := range c.Ports {
			target := string(sp.TargetPort)
			if target == "" {
				target = strconv.Itoa(sp.Port)
			}
			if strconv.Itoa(cp.ContainerPort) == want && (target == want || target == cp.Name) {
				return sp.Port
			}
		}
	}
	return 0
}

// checkConfigMap checks the master mounts the guide's ConfigMap where its
// -f reads, made from the example the image is built from.
func checkConfigMap(t *testing.T, master deployment, mc container, locustfile string) {
	t.Helper()
	name, key, file := guideConfigMap(t)
	mounted := false
	for _, v := range master.Spec.Template.Spec.Volumes {
		if v.ConfigMap == nil || v.ConfigMap.Name != name {
			continue
		}
		for _, vm := range mc.VolumeMounts {
			if vm.Name == v.Name && vm.MountPath+"/"+key == locustfile {
				mounted = true
			}
		}
	}
	if !mounted {
		t.Errorf("the master does not mount the guide's ConfigMap %s (key %s) where -f %s reads", name, key, locustfile)
	}
	if _, err := os.Stat(filepath.Join("..", file)); err != nil {
		t.Errorf("the guide's ConfigMap is made from %s: %v", file, err)
	}
	if pkg := guideDockerBuild(t).args["PACKAGE"]; filepath.Clean(pkg) != filepath.Dir(file) {
		t.Errorf("the guide's ConfigMap is made from %s but the image from %s: the classes must be the same example's", file, pkg)
	}
}

// guideConfigMap reads the guide's one kubectl create configmap line:
// the ConfigMap's name, its key and the file it is made from.
func guideConfigMap(t *testing.T) (name, key, file string) {
	t.Helper()
	var found []guideCommand
	for _, c := range guideCommands(t, "kubectl") {
		if len(c.words) > 3 && c.words[1] == "create" && c.words[2] == "configmap" {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		t.Fatalf("the guide has %d kubectl create configmap lines, want 1", len(found))
	}
	from, ok := optionValue(found[0].words, "from-file")
	key, file, hasKey := strings.Cut(from, "=")
	if !ok || !hasKey {
		t.Fatalf("%s: want --from-file=KEY=FILE", found[0])
	}
	return found[0].words[3], key, file
}

func checkKubeWorker(t *testing.T, w deployment, svc service, mc container, bindPort string) {
	name := w.Metadata.Name
	c := w.Spec.Template.Spec.Containers[0]
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if len(c.Command) > 0 {
		t.Errorf("worker %s: command %q replaces the image's entrypoint (the worker binary); give args", name, c.Command)
	}
	host, port := workerAddress(c.Args, env)
	if host != svc.Metadata.Name && !strings.HasPrefix(host, svc.Metadata.Name+".") {
		t.Errorf("worker %s dials %s, the master's Service is %s", name, host, svc.Metadata.Name)
	}
	if p := servicePortTo(svc, mc, bindPort); strconv.Itoa(p) != port {
		t.Errorf("worker %s dials port %s; the Service's port to the master's %s is %d", name, port, bindPort, p)
	}
	if b := guideDockerBuild(t); c.Image != b.tag {
		t.Errorf("worker %s runs image %q, the guide builds %q", name, c.Image, b.tag)
	}
	checkNonRoot(t, name, w.Spec.Template.Spec.SecurityContext, c.SecurityContext)
	if r := w.Spec.Replicas; r == nil || *r < 2 {
		t.Errorf("worker %s: want replicas ≥ 2 (a fleet)", name)
	}
	limit, err := quantityBytes(c.Resources.Limits["memory"])
	if err != nil {
		t.Fatalf("worker %s memory limit: %v", name, err)
	}
	if req, err := quantityBytes(c.Resources.Requests["memory"]); err != nil || req > limit {
		t.Errorf("worker %s memory request %q (%v) above its limit", name, c.Resources.Requests["memory"], err)
	}
	if c.Resources.Requests["cpu"] == "" {
		t.Errorf("worker %s requests no CPU", name)
	}
	checkMemoryLimits(t, "worker "+name, env["GOMEMLIMIT"], limit)
}

// checkNonRoot checks the pod runs as a non-root user, by number, that
// Kubernetes verifies, without privilege escalation.
func checkNonRoot(t *testing.T, name string, pod *podSecurityContext, c *containerSecurity) {
	t.Helper()
	var nonRoot *bool
	var user *int64
	if pod != nil {
		nonRoot, user = pod.RunAsNonRoot, pod.RunAsUser
	}
	if c != nil && c.RunAsNonRoot != nil {
		nonRoot = c.RunAsNonRoot
	}
	if c != nil && c.RunAsUser != nil {
		user = c.RunAsUser
	}
	if nonRoot == nil || !*nonRoot || user == nil || *user == 0 {
		t.Errorf("worker %s: want runAsNonRoot: true and a non-zero runAsUser", name)
	}
	if c == nil || c.AllowPrivilegeEscalation == nil || *c.AllowPrivilegeEscalation {
		t.Errorf("worker %s: want allowPrivilegeEscalation: false", name)
	}
}
