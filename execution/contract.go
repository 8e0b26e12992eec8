// Package execution is the controller's side of the bundle's contract: the release-dependent names the
// chart renders into its execution-contract ConfigMap (release namespace, per-run ServiceAccount prefix,
// per-action ClusterRole names, label keys, policy ConfigMap, images), and lookups from a catalogue
// action to its Task, policy key, parameters, steps and exit codes.
//
// Nothing release-dependent is compiled in: a controller reads the ConfigMap (Load or Discover) of the
// release it serves. Subpackages use the Contract: runrbac (per-run ServiceAccount and bindings), jobs
// (the Job of a run), gate (the policy decision in process). Imports stay light: client-go and the
// Kubernetes API types, no Helm, kustomize, Tekton or OPA.
package execution

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	catalogueyaml "go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/execution/steps"
)

// Version is the contract's format version; Parse refuses any other, so a controller never misreads a
// chart from an incompatible release.
const Version = 1

// Keys of the contract ConfigMap. The images, the UID and the GID are keys of their own, outside
// contract.yaml, so that Kustomize overlays can change them as they change every other object: the
// images transformer pins them by digest (production) and the OpenShift component removes runAsUser and
// runAsGroup.
const (
	ContractKey   = "contract.yaml"
	RunAsUserKey  = "runAsUser"
	RunAsGroupKey = "runAsGroup"
)

// ImageRoles are the step image roles (package steps) whose images the contract carries.
var ImageRoles = []string{steps.ImageKubectl, steps.ImageOPA}

// ImageKey is the ConfigMap key of a step image role's image: opaImage, kubectlImage.
func ImageKey(role string) string { return role + "Image" }

// ComponentLabel and ComponentValue select the contract ConfigMap in the release namespace (Discover).
const (
	ComponentLabel = "app.kubernetes.io/component"
	ComponentValue = "execution-contract"
)

// Default label keys, written into the chart's generated contract data by the generator. A controller uses the
// ones its Contract carries.
const (
	DefaultRunLabel    = "kubernaut.io/run"
	DefaultActionLabel = "kubernaut.io/action"
	// DefaultRunAnnotation holds the run object's identity on every per-run object, so that Sweep can
	// tell whether the run still exists.
	DefaultRunAnnotation = "kubernaut.io/run-object"
	DefaultFinalizer     = "kubernaut.io/run-rbac"
	DefaultTaskPrefix    = "kubernaut-"
	// The release's full name followed by these names the per-run ServiceAccounts and the action
	// ClusterRoles (and static ServiceAccounts): <fullname>-run-<run>, <fullname>-action-<action>.
	DefaultRunServiceAccountInfix = "-run-"
	DefaultActionInfix            = "-action-"
)

// Targets: what makes an object a target, and the release's kill switch. The managed label is upstream
// Kubernaut's, with its meaning: a namespace or node is a target only when labelled "true", and an
// object labelled "false" is opted out inside a managed namespace.
const (
	ManagedLabel     = "kubernaut.ai/managed"
	EnvironmentLabel = "kubernaut.ai/environment"
	// PausedLabel on the release namespace ("true") makes admission refuse every new workload of the
	// controller and every changing request of a run identity.
	PausedLabel = "kubernaut.io/paused"
	// What an object's owner allows a run to write, comma-separated, on the object itself.
	PatchableEnvAnnotation    = "kubernaut.ai/patchable-env"
	PatchableKeysAnnotation   = "kubernaut.ai/patchable-keys"
	PatchableImagesAnnotation = "kubernaut.ai/patchable-images"
)

// ProtectedNamespaces are never targets, labelled or not; the chart adds the release namespace and the
// operator's rbac.additionalProtectedNamespaces, and no values file can remove these.
var ProtectedNamespaces = []string{"kube-node-lease", "kube-public", "kube-system"}

// Targets is the targets part of the contract, as the chart's templates read it.
type Targets struct {
	ManagedLabel        string   `json:"managedLabel"`
	EnvironmentLabel    string   `json:"environmentLabel"`
	PausedLabel         string   `json:"pausedLabel"`
	ProtectedNamespaces []string `json:"protectedNamespaces"`
	PatchableEnv        string   `json:"patchableEnv"`
	PatchableKeys       string   `json:"patchableKeys"`
	PatchableImages     string   `json:"patchableImages"`
}

// Contract is what the chart renders for one release.
type Contract struct {
	Version int `json:"version"`
	// Release is the Helm release name; Namespace the release namespace, where the controller, the
	// per-run ServiceAccounts and every workload (Job, TaskRun) live.
	Release   string `json:"release"`
	Namespace string `json:"namespace"`
	// RunServiceAccountPrefix is what the admission policy requires of a run's ServiceAccount.
	RunServiceAccountPrefix string `json:"runServiceAccountPrefix"`
	// ActionClusterRolePrefix + action name is the action's inert ClusterRole.
	ActionClusterRolePrefix string `json:"actionClusterRolePrefix"`
	PolicyConfigMap         string `json:"policyConfigMap"`
	RedactionConfigMap      string `json:"redactionConfigMap"`
	// TaskPrefix + action name is the action's Tekton Task (in Namespace).
	TaskPrefix string `json:"taskPrefix"`
	Labels     Labels `json:"labels"`
	// ActionPodLabels select action pods in the action NetworkPolicy: every run pod carries them.
	ActionPodLabels map[string]string `json:"actionPodLabels"`
	// Targets name the opt-in labels and the kill switch; ProtectedNamespaces there includes the
	// release's own and its additional ones.
	Targets Targets `json:"targets"`
	// Images are the chart's images by step image role (ImageRoles).
	Images map[string]Image `json:"images"`
	// RunAsUser is the pods' fixed UID, nil where the platform assigns one (OpenShift). From the
	// ConfigMap key runAsUser.
	RunAsUser *int64 `json:"-"`
	// RunAsGroup is the pods' fixed primary GID, nil where the platform assigns one. From the ConfigMap
	// key runAsGroup.
	RunAsGroup *int64                      `json:"-"`
	Resources  corev1.ResourceRequirements `json:"resources"`
	// ImagePullSecrets go on every per-run ServiceAccount, so that Kubernetes adds them to the run's
	// pods (values imagePullSecrets).
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets"`
	// RunRetentionSeconds is how long a finished run's Job is kept (its ttlSecondsAfterFinished): the
	// run budget's window (values budget.windowSeconds). The budget's quota counts the Jobs in the
	// namespace, so keeping each for the window makes that count the runs of the last window.
	RunRetentionSeconds int32 `json:"runRetentionSeconds,omitempty"`
	// Steps are the step names in run order with the meaning of their non-zero exit codes.
	Steps []StepContract `json:"steps"`
	// CatalogueSHA256 identifies the catalogue the chart was generated from (see CatalogueDigest).
	CatalogueSHA256 string `json:"catalogueSHA256"`
}

// Labels are the keys of the labels and annotations on per-run objects.
type Labels struct {
	Run           string `json:"run"`
	Action        string `json:"action"`
	RunAnnotation string `json:"runAnnotation"`
	Finalizer     string `json:"finalizer"`
}

// Image is one image reference (from the ConfigMap key ImageKey(role)) and its pull policy.
type Image struct {
	Image      string            `json:"-"`
	PullPolicy corev1.PullPolicy `json:"pullPolicy"`
}

// StepContract names one step and what its exit codes mean.
type StepContract struct {
	Name      string            `json:"name"`
	ExitCodes map[string]string `json:"exitCodes,omitempty"`
}

// Static is the release-independent part of the contract, which the generator writes into the chart
// (files/contract.json); the chart's template adds the release's names and images.
func Static(cat *catalogue.Catalogue) (Contract, error) {
	digest, err := CatalogueDigest(cat)
	if err != nil {
		return Contract{}, err
	}
	gateCodes := map[string]string{
		fmt.Sprint(steps.ExitRefused):      "refused by policy",
		fmt.Sprint(steps.ExitNotEvaluable): "policy could not be evaluated",
	}
	return Contract{
		Version:    Version,
		TaskPrefix: DefaultTaskPrefix,
		// In the static part the two name prefixes are what follows the release's full name; the
		// chart's helpers prepend it (templates/_helpers.tpl).
		RunServiceAccountPrefix: DefaultRunServiceAccountInfix,
		ActionClusterRolePrefix: DefaultActionInfix,
		Labels:                  Labels{Run: DefaultRunLabel, Action: DefaultActionLabel, RunAnnotation: DefaultRunAnnotation, Finalizer: DefaultFinalizer},
		Targets: Targets{
			ManagedLabel: ManagedLabel, EnvironmentLabel: EnvironmentLabel, PausedLabel: PausedLabel,
			ProtectedNamespaces: slices.Clone(ProtectedNamespaces),
			PatchableEnv:        PatchableEnvAnnotation, PatchableKeys: PatchableKeysAnnotation, PatchableImages: PatchableImagesAnnotation,
		},
		Steps: []StepContract{
			{Name: steps.PolicyGate, ExitCodes: gateCodes},
			{Name: steps.ApprovalGate, ExitCodes: map[string]string{
				fmt.Sprint(steps.ExitNeedsApproval): "approval required",
				fmt.Sprint(steps.ExitNotEvaluable):  "policy could not be evaluated",
			}},
			{Name: steps.DryRun, ExitCodes: map[string]string{"1": "kubectl failed (server-side dry-run refused)"}},
			{Name: steps.Execute, ExitCodes: map[string]string{"1": "kubectl failed"}},
		},
		CatalogueSHA256: digest,
	}, nil
}

// CatalogueDigest is a stable digest of a catalogue's content, to detect a controller built with a
// catalogue other than the chart's. It digests every field under the names the catalogue file gives
// them: the JSON form is the gate's, which leaves out parameter and context field names (keyed
// elsewhere) and descriptions.
func CatalogueDigest(cat *catalogue.Catalogue) (string, error) {
	data, err := catalogueyaml.Marshal(cat)
	if err != nil {
		return "", fmt.Errorf("catalogue digest: %w", err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// Parse reads the contract from the ConfigMap's data and validates it.
func Parse(data map[string]string) (*Contract, error) {
	raw, ok := data[ContractKey]
	if !ok {
		return nil, fmt.Errorf("execution contract: no key %s", ContractKey)
	}
	var c Contract
	if err := yaml.UnmarshalStrict([]byte(raw), &c); err != nil {
		return nil, fmt.Errorf("execution contract: %w", err)
	}
	for role, image := range c.Images {
		image.Image = data[ImageKey(role)]
		c.Images[role] = image
	}
	for key, id := range map[string]**int64{RunAsUserKey: &c.RunAsUser, RunAsGroupKey: &c.RunAsGroup} {
		v, ok := data[key]
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("execution contract: %s %q is not a non-root ID", key, v)
		}
		*id = &n
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate reports every missing or malformed field at once.
func (c *Contract) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Version != Version {
		bad("version %d, this package reads version %d", c.Version, Version)
	}
	for name, v := range map[string]string{
		"release": c.Release, "runServiceAccountPrefix": c.RunServiceAccountPrefix,
		"actionClusterRolePrefix": c.ActionClusterRolePrefix, "policyConfigMap": c.PolicyConfigMap,
		"taskPrefix": c.TaskPrefix,
	} {
		if v == "" {
			bad("%s is empty", name)
		}
	}
	for _, role := range ImageRoles {
		if c.Images[role].Image == "" {
			bad("%s is empty", ImageKey(role))
		}
	}
	if msgs := validation.IsDNS1123Label(c.Namespace); len(msgs) > 0 {
		bad("namespace %q: %s", c.Namespace, strings.Join(msgs, "; "))
	}
	for name, key := range map[string]string{"labels.run": c.Labels.Run, "labels.action": c.Labels.Action, "labels.runAnnotation": c.Labels.RunAnnotation, "labels.finalizer": c.Labels.Finalizer} {
		if msgs := validation.IsQualifiedName(key); len(msgs) > 0 {
			bad("%s %q: %s", name, key, strings.Join(msgs, "; "))
		}
	}
	if c.RunRetentionSeconds < 1 {
		bad("runRetentionSeconds %d: finished runs must be kept at least a second, or the run budget counts none of them", c.RunRetentionSeconds)
	}
	if len(c.ActionPodLabels) == 0 {
		bad("actionPodLabels is empty: the action NetworkPolicy would select no run pod")
	}
	// A prefix must leave room for a run id within a DNS label (see runrbac.Names).
	if len(c.RunServiceAccountPrefix) > validation.DNS1123LabelMaxLength-MinRunIDLength {
		bad("runServiceAccountPrefix %q leaves fewer than %d characters for the run id", c.RunServiceAccountPrefix, MinRunIDLength)
	}
	var names []string
	for _, s := range c.Steps {
		names = append(names, s.Name)
	}
	if want := []string{steps.PolicyGate, steps.ApprovalGate, steps.DryRun, steps.Execute}; strings.Join(names, ",") != strings.Join(want, ",") {
		bad("steps %v, this package runs %v", names, want)
	}
	if len(errs) > 0 {
		// Map order above is random: sort, so that the same contract always gives the same message.
		slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return fmt.Errorf("execution contract: %w", errors.Join(errs...))
	}
	return nil
}

// MinRunIDLength is the room a run's ServiceAccount name keeps for the run id after the prefix.
const MinRunIDLength = 16

// Load reads the contract ConfigMap by name.
func Load(ctx context.Context, client kubernetes.Interface, namespace, name string) (*Contract, error) {
	cm, err := client.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("execution contract ConfigMap %s/%s: %w", namespace, name, err)
	}
	c, err := Parse(cm.Data)
	if err != nil {
		return nil, fmt.Errorf("ConfigMap %s/%s: %w", namespace, name, err)
	}
	return c, nil
}

// LoadDir reads the contract from a directory where the ConfigMap is mounted as a volume (one file per
// key), which needs no RBAC rule at all: the controller's pod template mounts it.
func LoadDir(dir string) (*Contract, error) {
	data := map[string]string{}
	keys := []string{ContractKey, RunAsUserKey, RunAsGroupKey}
	for _, role := range ImageRoles {
		keys = append(keys, ImageKey(role))
	}
	for _, key := range keys {
		content, err := os.ReadFile(filepath.Join(dir, key))
		if errors.Is(err, fs.ErrNotExist) {
			continue // Parse names the keys that must be there
		}
		if err != nil {
			return nil, fmt.Errorf("execution contract: %w", err)
		}
		data[key] = strings.TrimSuffix(string(content), "\n")
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return c, nil
}

// Discover finds the contract ConfigMap in the controller's namespace by its component label, so that
// a controller needs only its own namespace (from the downward API). More than one is an error: the
// controller could not tell which release it serves.
func Discover(ctx context.Context, client kubernetes.Interface, namespace string) (*Contract, error) {
	list, err := client.CoreV1().ConfigMaps(namespace).List(ctx, metav1.ListOptions{LabelSelector: ComponentLabel + "=" + ComponentValue})
	if err != nil {
		return nil, fmt.Errorf("list execution contract ConfigMaps in %s: %w", namespace, err)
	}
	if len(list.Items) != 1 {
		var names []string
		for _, cm := range list.Items {
			names = append(names, cm.Name)
		}
		return nil, fmt.Errorf("namespace %s: want exactly one ConfigMap labelled %s=%s, found %d %v", namespace, ComponentLabel, ComponentValue, len(list.Items), names)
	}
	c, err := Parse(list.Items[0].Data)
	if err != nil {
		return nil, fmt.Errorf("ConfigMap %s/%s: %w", namespace, list.Items[0].Name, err)
	}
	return c, nil
}

// CheckCatalogue refuses a catalogue other than the one the chart was generated from: its ClusterRoles,
// policies and Tasks would not match the actions the controller runs.
func (c *Contract) CheckCatalogue(cat *catalogue.Catalogue) error {
	digest, err := CatalogueDigest(cat)
	if err != nil {
		return err
	}
	if digest != c.CatalogueSHA256 {
		return fmt.Errorf("catalogue %s differs from the chart's (%s): regenerate and reinstall the chart, or build the controller with its catalogue", digest[:12], c.CatalogueSHA256[:min(12, len(c.CatalogueSHA256))])
	}
	return nil
}

// ClusterRole is the action's inert ClusterRole: the seed's getRoleForAction as a lookup.
func (c *Contract) ClusterRole(action string) string { return c.ActionClusterRolePrefix + action }

// Task is the action's Tekton Task, in the release namespace.
func (c *Contract) Task(action string) string { return c.TaskPrefix + action }

// ExitMeaning says what a step's exit code means ("" for 0 or an unknown code).
func (c *Contract) ExitMeaning(step string, code int32) string {
	for _, s := range c.Steps {
		if s.Name == step {
			return s.ExitCodes[fmt.Sprint(code)]
		}
	}
	return ""
}
