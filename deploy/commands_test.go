package deploy

// This file owns TestGuideCommands: every docker, docker compose and
// kubectl command of docs/deploy.md names a file, image, service,
// Deployment, Service, port or container that exists. The commands
// themselves cannot run here (no container engine, no cluster); the
// build lines are run by build_test.go.

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestGuideCommands checks the guide's commands against the manifests.
func TestGuideCommands(t *testing.T) {
	compose := loadCompose(t)
	c := loadCluster(t)
	tag := guideDockerBuild(t).tag
	n := 0
	for _, cmd := range guideCommands(t, "docker compose") {
		n++
		checkComposeCommand(t, cmd, compose)
	}
	for _, cmd := range guideCommands(t, "kubectl") {
		n++
		checkKubectlCommand(t, cmd, c, tag)
	}
	for _, cmd := range guideCommands(t, "docker") {
		n++
		checkDockerCommand(t, cmd, tag)
	}
	if n < 10 {
		t.Errorf("checked %d commands of the guide; it has more than that", n)
	}
}

// checkComposeCommand checks a docker compose line: it names
// deploy/compose.yaml with -f before its subcommand, and --scale and logs
// name its services.
func checkComposeCommand(t *testing.T, cmd guideCommand, f composeFile) {
	t.Helper()
	w := cmd.words
	if len(w) < 5 || w[2] != "-f" || w[3] != filepath.ToSlash(filepath.Join("deploy", composePath)) {
		t.Errorf("%s: want docker compose -f deploy/%s SUBCOMMAND", cmd, composePath)
		return
	}
	sub, rest := w[4], w[5:]
	if scale, ok := optionValue(rest, "scale"); ok {
		svc, n, _ := strings.Cut(scale, "=")
		if _, known := f.Services[svc]; !known {
			t.Errorf("%s: no service %q", cmd, svc)
		}
		if v, err := strconv.Atoi(n); err != nil || v < 1 {
			t.Errorf("%s: scale %q", cmd, n)
		}
	}
	switch sub {
	case "up", "down":
	case "logs":
		if _, known := f.Services[w[len(w)-1]]; !known || len(rest) == 0 {
			t.Errorf("%s: no service %q", cmd, w[len(w)-1])
		}
	default:
		t.Errorf("%s: a docker compose command the test does not check (add it to checkComposeCommand)", cmd)
	}
}

// checkKubectlCommand checks a kubectl line against the manifests; a
// subcommand the test does not know is an error, so that the guide gets
// no unchecked command.
func checkKubectlCommand(t *testing.T, cmd guideCommand, c cluster, tag string) {
	t.Helper()
	w := cmd.words
	switch {
	case len(w) > 2 && w[1] == "create" && w[2] == "configmap":
		// guideConfigMap and TestKubernetesWorkersReachMaster check it.
	case len(w) == 4 && w[1] == "apply" && w[2] == "-f":
		if filepath.Clean(w[3]) != filepath.Join("deploy", kubeDir) {
			t.Errorf("%s: want deploy/%s/", cmd, kubeDir)
		}
	case len(w) == 4 && w[1] == "port-forward":
		svc, ok := findService(c, strings.TrimPrefix(w[2], "service/"))
		_, remote, _ := strings.Cut(w[3], ":")
		if !ok || !slices.ContainsFunc(svc.Spec.Ports, func(p servicePort) bool { return strconv.Itoa(p.Port) == remote }) {
			t.Errorf("%s: no Service port %s/%s", cmd, w[2], remote)
		}
	case len(w) == 4 && w[1] == "scale":
		if _, ok := findDeployment(c, strings.TrimPrefix(w[2], "deployment/")); !ok || !strings.HasPrefix(w[3], "--replicas=") {
			t.Errorf("%s: no Deployment %s", cmd, w[2])
		}
	case len(w) == 5 && w[1] == "set" && w[2] == "image":
		d, ok := findDeployment(c, strings.TrimPrefix(w[3], "deployment/"))
		name, image, _ := strings.Cut(w[4], "=")
		if !ok || !slices.ContainsFunc(d.Spec.Template.Spec.Containers, func(c container) bool { return c.Name == name }) {
			t.Errorf("%s: no container %s in %s", cmd, name, w[3])
		}
		if !strings.HasSuffix(image, "/"+tag) {
			t.Errorf("%s: image %s is not the guide's %s in a registry", cmd, image, tag)
		}
	default:
		t.Errorf("%s: a kubectl command the test does not check (add it to checkKubectlCommand)", cmd)
	}
}

// checkDockerCommand checks docker run, tag and push lines name the
// image the guide builds; docker build and docker compose are checked
// elsewhere.
func checkDockerCommand(t *testing.T, cmd guideCommand, tag string) {
	t.Helper()
	w := cmd.words
	switch w[1] {
	case "build", "compose":
	case "run":
		if !slices.Contains(w, tag) {
			t.Errorf("%s: does not run the guide's image %s", cmd, tag)
		}
	case "tag":
		if len(w) != 4 || w[2] != tag || !strings.HasSuffix(w[3], "/"+tag) {
			t.Errorf("%s: want docker tag %s REGISTRY/.../%s", cmd, tag, tag)
		}
	case "push":
		if len(w) != 3 || !strings.HasSuffix(w[2], "/"+tag) {
			t.Errorf("%s: want docker push REGISTRY/.../%s", cmd, tag)
		}
	default:
		t.Errorf("%s: a docker command the test does not check (add it to checkDockerCommand)", cmd)
	}
}

func findService(c cluster, name string) (service, bool) {
	for _, s := range c.services {
		if s.Metadata.Name == name {
			return s, true
		}
	}
	return service{}, false
}

func findDeployment(c cluster, name string) (deployment, bool) {
	for _, d := range c.deployments {
		if d.Metadata.Name == name {
			return d, true
		}
	}
	return deployment{}, false
}

// dockerRunArgs returns the worker arguments of the guide's docker run
// lines: the words after the image.
func dockerRunArgs(t *testing.T, tag string) [][]string {
	t.Helper()
	var out [][]string
	for _, cmd := range guideCommands(t, "docker run") {
		if i := slices.Index(cmd.words, tag); i >= 0 {
			out = append(out, cmd.words[i+1:])
		}
	}
	return out
}
