package deploy

// This file owns reading the manifests: the subset of Compose's and
// Kubernetes' schemas they use, as Go types, and strict decoding into them
// (a field the types do not know is an error, so a misspelt or misplaced
// field fails the test instead of being silently ignored).

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

// composeFile is the part of the Compose specification deploy/compose.yaml
// uses.
type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image       string                   `yaml:"image"`
	Build       *composeBuild            `yaml:"build"`
	Command     []string                 `yaml:"command"`
	Ports       []string                 `yaml:"ports"`
	Volumes     []string                 `yaml:"volumes"`
	DependsOn   []string                 `yaml:"depends_on"`
	Environment map[string]string        `yaml:"environment"`
	Ulimits     map[string]composeUlimit `yaml:"ulimits"`
	Deploy      *composeDeploy           `yaml:"deploy"`
	User        string                   `yaml:"user"`
}

type composeBuild struct {
	Context    string            `yaml:"context"`
	Dockerfile string            `yaml:"dockerfile"`
	Args       map[string]string `yaml:"args"`
}

type composeUlimit struct {
	Soft int64 `yaml:"soft"`
	Hard int64 `yaml:"hard"`
}

type composeDeploy struct {
	Replicas  *int `yaml:"replicas"`
	Resources struct {
		Limits composeLimits `yaml:"limits"`
	} `yaml:"resources"`
}

type composeLimits struct {
	CPUs   string `yaml:"cpus"`
	Memory string `yaml:"memory"`
}

// object is what every Kubernetes manifest starts with.
type object struct {
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   objectMeta `yaml:"metadata"`
}

type objectMeta struct {
	Name   string            `yaml:"name"`
	Labels map[string]string `yaml:"labels"`
}

// deployment is the part of apps/v1 Deployment the manifests use.
type deployment struct {
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   objectMeta `yaml:"metadata"`
	Spec       struct {
		Replicas *int `yaml:"replicas"`
		Strategy *struct {
			Type string `yaml:"type"`
		} `yaml:"strategy"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata objectMeta `yaml:"metadata"`
			Spec     podSpec    `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type podSpec struct {
	TerminationGracePeriodSeconds *int64              `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               *podSecurityContext `yaml:"securityContext"`
	Containers                    []container         `yaml:"containers"`
	Volumes                       []volume            `yaml:"volumes"`
}

type podSecurityContext struct {
	RunAsNonRoot   *bool           `yaml:"runAsNonRoot"`
	RunAsUser      *int64          `yaml:"runAsUser"`
	RunAsGroup     *int64          `yaml:"runAsGroup"`
	SeccompProfile *seccompProfile `yaml:"seccompProfile"`
}

type seccompProfile struct {
	Type string `yaml:"type"`
}

type container struct {
	Name            string             `yaml:"name"`
	Image           string             `yaml:"image"`
	ImagePullPolicy string             `yaml:"imagePullPolicy"`
	Command         []string           `yaml:"command"`
	Args            []string           `yaml:"args"`
	Ports           []containerPort    `yaml:"ports"`
	Env             []envVar           `yaml:"env"`
	VolumeMounts    []volumeMount      `yaml:"volumeMounts"`
	Resources       resources          `yaml:"resources"`
	SecurityContext *containerSecurity `yaml:"securityContext"`
}

type containerPort struct {
	Name          string `yaml:"name"`
	ContainerPort int    `yaml:"containerPort"`
	Protocol      string `yaml:"protocol"`
}

type envVar struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

type volumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
	ReadOnly  bool   `yaml:"readOnly"`
}

type resources struct {
	Requests map[string]string `yaml:"requests"`
	Limits   map[string]string `yaml:"limits"`
}

type containerSecurity struct {
	AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
	ReadOnlyRootFilesystem   *bool  `yaml:"readOnlyRootFilesystem"`
	RunAsNonRoot             *bool  `yaml:"runAsNonRoot"`
	RunAsUser                *int64 `yaml:"runAsUser"`
	Capabilities             *struct {
		Drop []string `yaml:"drop"`
		Add  []string `yaml:"add"`
	} `yaml:"capabilities"`
}

type volume struct {
	Name      string `yaml:"name"`
	ConfigMap *struct {
		Name string `yaml:"name"`
	} `yaml:"configMap"`
	EmptyDir *struct{} `yaml:"emptyDir"`
}

// service is the part of v1 Service the manifests use.
type service struct {
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   objectMeta `yaml:"metadata"`
	Spec       struct {
		Type     string            `yaml:"type"`
		Selector map[string]string `yaml:"selector"`
		Ports    []servicePort     `yaml:"ports"`
	} `yaml:"spec"`
}

type servicePort struct {
	Name       string      `yaml:"name"`
	Port       int         `yaml:"port"`
	TargetPort intOrString `yaml:"targetPort"`
	Protocol   string      `yaml:"protocol"`
}

// intOrString is a Kubernetes IntOrString: a port number or a port's name.
type intOrString string

func (v *intOrString) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a port number or name", n.Line)
	}
	*v = intOrString(n.Value)
	return nil
}

// cluster is every Kubernetes object of deploy/kubernetes, by kind.
type cluster struct {
	deployments []deployment
	services    []service
}

// strictDecode decodes one YAML document into v, refusing fields v's type
// does not have and anything after the document.
func strictDecode(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("more than one document (%v)", err)
	}
	return nil
}

// readCompose reads a Compose file strictly.
func readCompose(path string) (composeFile, error) {
	var f composeFile
	data, err := os.ReadFile(path)
	if err != nil {
		return f, err
	}
	if err := strictDecode(data, &f); err != nil {
		return f, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// documents splits a YAML stream into its documents, each re-encoded on
// its own so that it can be decoded strictly.
func documents(data []byte) ([][]byte, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs [][]byte
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		doc, err := yaml.Marshal(&n)
		if err != nil {
			return nil, err
		}
		docs = append(docs, doc)
	}
}

// addManifests reads every document of a Kubernetes manifest file strictly
// into c by its kind; a kind the types do not know is an error.
func (c *cluster) addManifests(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	docs, err := documents(data)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	for i, doc := range docs {
		if err := c.add(doc); err != nil {
			return 0, fmt.Errorf("%s, document %d: %w", path, i+1, err)
		}
	}
	return len(docs), nil
}

func (c *cluster) add(doc []byte) error {
	var head object
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return err
	}
	switch head.APIVersion + " " + head.Kind {
	case "apps/v1 Deployment":
		var d deployment
		err := strictDecode(doc, &d)
		c.deployments = append(c.deployments, d)
		return err
	case "v1 Service":
		var s service
		err := strictDecode(doc, &s)
		c.services = append(c.services, s)
		return err
	}
	return fmt.Errorf("kind %q of apiVersion %q: the test knows apps/v1 Deployment and v1 Service", head.Kind, head.APIVersion)
}
