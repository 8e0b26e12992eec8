package tests

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/execution/steps"
	"github.com/jordigilh/kubernaut-execution/internal/generate"
	"github.com/jordigilh/kubernaut-execution/internal/manifest"
	"github.com/jordigilh/kubernaut-execution/internal/render"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

// The names a controller must use (label keys, name parts, the Task prefix, the gate step) live in
// one place, the Go package execution, which the generator writes into files/contract.json. A change there
// must change every template and admission policy that uses them, and leave no default behind: this
// renders the chart with a contract whose every name differs from the default.
func TestContractNamesComeFromOnePlace(t *testing.T) {
	static, err := execution.Static(testenv.Catalogue(t))
	require.NoError(t, err)
	static.Labels.Run = "example.org/run-id"
	static.Labels.Action = "example.org/action-name"
	static.RunServiceAccountPrefix = "-per-run-"
	static.ActionClusterRolePrefix = "-verb-"
	static.TaskPrefix = "remedy-"
	static.Steps[0].Name = "gate-first"
	data, err := json.Marshal(static)
	require.NoError(t, err)
	ch, err := render.LoadChart(chartDir, map[string][]byte{generate.ContractFile: data})
	require.NoError(t, err)

	// The defaults, as whole names: kubernaut.io/run-object and kubernaut.io/run-rbac are other keys,
	// <fullname>-action-pods is a NetworkPolicy, not an action's name, and <fullname>-run-budget the
	// run budget's ResourceQuota, not a run's ServiceAccount.
	var actions []string
	for _, a := range testenv.Catalogue(t).Actions {
		actions = append(actions, a.Name)
	}
	defaults := regexp.MustCompile(`kubernaut\.io/run([^-a-z]|$)|kubernaut\.io/action|-execution-action-(` + strings.Join(actions, "|") +
		`)?[^a-z]|-execution-run-([^b]|$)|"kubernaut-"|policy-gate"`)
	for _, file := range []string{"default-values.yaml", "static-values.yaml"} {
		t.Run(file, func(t *testing.T) {
			docs, err := render.Render(ch, render.Options{Release: render.DefaultRelease, Namespace: render.DefaultNamespace,
				KubeVersion: render.NewestKubernetes, Values: readValues(t, filepath.Join(chartDir, "ci", file))})
			require.NoError(t, err)
			var all []byte
			for _, d := range docs {
				if filepath.Base(d.Source) == "tekton-tasks.yaml" {
					continue // the Tasks are generated with the names; the mutation here is of the contract file alone
				}
				require.Nil(t, defaults.Find(d.YAML), "%s still holds a default contract name: %s", d.Source, defaults.Find(d.YAML))
				all = append(all, d.YAML...)
			}
			objs := objects(t, docs)
			require.Contains(t, objs, "ClusterRole//kubernaut-execution-verb-drain-node")
			require.Equal(t, "drain-node", get(objs["ClusterRole//kubernaut-execution-verb-drain-node"], "metadata", "labels", "example.org/action-name"))
			for _, want := range []string{
				`"example.org/run-id" in variables.binding.metadata.labels`,
				`variables.binding.metadata.labels["example.org/action-name"]`,
				`startsWith("kubernaut-execution-per-run-")`,
				`== "remedy-" + variables.action`,
				`initContainers[0].name == "gate-first"`,
			} {
				require.Contains(t, string(all), want)
			}
			if file == "static-values.yaml" {
				require.Contains(t, string(all), `sa == "kubernaut-execution-verb-" + variables.action`)
			}
			contract := get(objs["ConfigMap/kubernaut-system/kubernaut-execution-execution-contract"], "data", "contract.yaml")
			require.Contains(t, contract, "runServiceAccountPrefix: kubernaut-execution-per-run-")
			require.Contains(t, contract, "actionClusterRolePrefix: kubernaut-execution-verb-")
		})
	}
}

// The generated Tasks name their images by step role and their policy volume by name, and
// files/task-slots.json tells the template which value and which volume: renaming a role or the
// volume in package steps changes the Tasks and the slots together, and the render still fills every
// step. A role or a volume the slots do not name fails the render, naming it.
func TestTasksAreCompletedFromTheirSlots(t *testing.T) {
	taskFiles, err := filepath.Glob(filepath.Join(chartDir, generate.TaskFilesDir, "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, taskFiles)
	slots := readFile(t, filepath.Join(chartDir, generate.TaskSlotsFile))
	contract := readFile(t, filepath.Join(chartDir, generate.ContractFile))
	renamed := func(slots string) map[string][]byte {
		files := map[string][]byte{generate.TaskSlotsFile: []byte(slots), generate.ContractFile: []byte(contract)}
		for _, f := range taskFiles {
			task := strings.ReplaceAll(readFile(t, f), `"image": "`+steps.ImageOPA+`"`, `"image": "policy-engine"`)
			task = strings.ReplaceAll(task, `"name": "`+steps.PolicyVolume+`"`, `"name": "gate-policies"`)
			files[filepath.ToSlash(filepath.Join(generate.TaskFilesDir, filepath.Base(f)))] = []byte(task)
		}
		return files
	}
	render1 := func(files map[string][]byte) ([]manifest.Document, error) {
		ch, err := render.LoadChart(chartDir, files)
		require.NoError(t, err)
		return render.Render(ch, render.Options{Release: render.DefaultRelease, Namespace: render.DefaultNamespace,
			KubeVersion: render.NewestKubernetes, Values: readValues(t, filepath.Join(chartDir, "ci", "default-values.yaml"))})
	}

	renameRole := func(slots string) string {
		return strings.ReplaceAll(slots, `"`+steps.ImageOPA+`":`, `"policy-engine":`)
	}
	renameVolume := func(slots string) string {
		return strings.ReplaceAll(slots, `"policyVolume": "`+steps.PolicyVolume+`"`, `"policyVolume": "gate-policies"`)
	}
	both := renameVolume(renameRole(slots))
	require.NotEqual(t, slots, renameRole(slots))
	require.NotEqual(t, slots, renameVolume(slots))
	docs, err := render1(renamed(both))
	require.NoError(t, err)
	values := readValues(t, filepath.Join(chartDir, "values.yaml"))
	opaImage := get(values, "tekton", "opaImage", "repository").(string)
	tasks := 0
	for name, o := range objects(t, docs) {
		if get(o, "kind") != "Task" {
			continue
		}
		tasks++
		require.Contains(t, get(o, "spec", "steps", 0, "image"), opaImage, name)
		require.Equal(t, "gate-policies", get(o, "spec", "volumes", 0, "name"), name)
		require.NotEmpty(t, get(o, "spec", "volumes", 0, "configMap", "name"), name)
	}
	require.Len(t, taskFiles, tasks)

	// Controls: the Tasks renamed and the slots not.
	_, err = render1(renamed(renameVolume(slots)))
	require.ErrorContains(t, err, `step image role "policy-engine" has no value in files/task-slots.json`)
	_, err = render1(renamed(renameRole(slots)))
	require.ErrorContains(t, err, `has no volume "policies" (files/task-slots.json)`)
}

// The restricted pod and container settings, the /tmp volume and kubectl's environment are package
// steps', which gen writes into files/pod-settings.json (and into the Tasks and Jobs it builds): a
// change there reaches every pod the chart renders, the controller's and the helm test's.
func TestPodSettingsComeFromOnePlace(t *testing.T) {
	settings := readFile(t, filepath.Join(chartDir, generate.PodSettingsFile))
	changed := strings.ReplaceAll(settings, `"sizeLimit": "`+steps.TmpSizeLimit+`"`, `"sizeLimit": "7Mi"`)
	changed = strings.ReplaceAll(changed, `"value": "/tmp/.kube/cache"`, `"value": "/tmp/elsewhere"`)
	require.NotContains(t, changed, steps.TmpSizeLimit)
	require.NotEqual(t, settings, changed)
	ch, err := render.LoadChart(chartDir, map[string][]byte{generate.PodSettingsFile: []byte(changed)})
	require.NoError(t, err)
	docs, err := render.Render(ch, render.Options{Release: render.DefaultRelease, Namespace: render.DefaultNamespace,
		KubeVersion: render.NewestKubernetes, Values: readValues(t, filepath.Join(chartDir, "ci", "default-values.yaml")), Tests: true})
	require.NoError(t, err)
	pods := 0
	for _, d := range docs {
		if d.Kind() != "Deployment" && d.Kind() != "Pod" {
			continue
		}
		require.Contains(t, string(d.YAML), "allowPrivilegeEscalation: false", d.Kind()+"/"+d.Name())
		if d.Name() == render.DefaultRelease+"-test-access" {
			continue // the access check writes nothing and runs no kubectl: no /tmp
		}
		pods++
		require.Contains(t, string(d.YAML), "sizeLimit: 7Mi", d.Kind()+"/"+d.Name())
		require.NotContains(t, string(d.YAML), "sizeLimit: "+steps.TmpSizeLimit, d.Kind()+"/"+d.Name())
		require.Contains(t, string(d.YAML), "/tmp/elsewhere", d.Kind()+"/"+d.Name())
	}
	require.Equal(t, 2, pods, "the controller and the helm test's kubectl pod")
}
