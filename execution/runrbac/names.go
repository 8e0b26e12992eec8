package runrbac

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Run identifies the object a run's RBAC belongs to: the PipelineRun or Job that runs the action. It
// lives in the release namespace, so the per-run ServiceAccount can name it as owner (an owner in
// another namespace is treated as absent by the garbage collector, which would delete the dependent at
// once: Kubernetes docs, "Garbage Collection").
type Run struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Namespace  string    `json:"namespace"`
	Name       string    `json:"name"`
	UID        types.UID `json:"uid"`
}

// RunOf is the Run of an object whose kind is known (typed objects carry no TypeMeta once read).
func RunOf(obj metav1.Object, gvk schema.GroupVersionKind) Run {
	return Run{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind, Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: obj.GetUID()}
}

func (r Run) String() string {
	return fmt.Sprintf("%s %s/%s (uid %s)", r.Kind, r.Namespace, r.Name, r.UID)
}

func (r Run) validate() error {
	var missing []string
	for _, f := range [][2]string{{"apiVersion", r.APIVersion}, {"kind", r.Kind}, {"namespace", r.Namespace}, {"name", r.Name}, {"uid", string(r.UID)}} {
		if f[1] == "" {
			missing = append(missing, f[0])
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("run %s: missing %s", r, strings.Join(missing, ", "))
	}
	return nil
}

// OwnerReference makes the run own an object of its own namespace.
func (r Run) OwnerReference() metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: r.APIVersion, Kind: r.Kind, Name: r.Name, UID: r.UID}
}

func (r Run) annotation() string {
	data, _ := json.Marshal(r) // a struct of strings always marshals
	return string(data)
}

func runFromAnnotation(s string) (Run, bool) {
	var r Run
	if err := json.Unmarshal([]byte(s), &r); err != nil || r.validate() != nil {
		return Run{}, false
	}
	return r, true
}

// hashLength is the hex digits of the run's digest in its id: 40 bits, so two runs collide only by
// chance (about one in 10^12), and a collision is then refused as a conflict, not merged.
const hashLength = 10

// ID is the run's id: a DNS label usable as a label value and, after the contract's prefix, as the
// ServiceAccount's name. It is the run's name, cut to fit and made DNS-safe, then a digest of the run's
// kind, namespace and name. It does not depend on the UID, which the server assigns only on creation:
// the Job or PipelineRun must name its ServiceAccount before it exists. The same run therefore always
// gets the same id (Provision converges after a crash); a later run reusing the name gets the same id
// too, and Provision refuses it as a conflict until the earlier run's objects are gone (the
// ServiceAccount's owner reference and run annotation carry the UID).
func ID(r Run, prefix string) string { return id(r.Kind, r.Namespace, r.Name, prefix) }

func id(kind, namespace, name, prefix string) string {
	sum := sha256.Sum256([]byte(kind + "/" + namespace + "/" + name))
	hash := hex.EncodeToString(sum[:])[:hashLength]
	budget := validation.DNS1123LabelMaxLength - len(prefix) - hashLength - 1
	var b strings.Builder
	for _, c := range strings.ToLower(name) {
		if b.Len() >= budget {
			break
		}
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteRune(c)
		default:
			b.WriteByte('-')
		}
	}
	trimmed := strings.Trim(b.String(), "-")
	if trimmed == "" {
		return hash
	}
	return trimmed + "-" + hash
}
