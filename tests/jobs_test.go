package tests

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/execution/jobs"
	"github.com/jordigilh/kubernaut-execution/execution/runrbac"
	"github.com/jordigilh/kubernaut-execution/execution/steps"
	"github.com/jordigilh/kubernaut-execution/internal/manifest"
	"github.com/jordigilh/kubernaut-execution/internal/render"
	"github.com/jordigilh/kubernaut-execution/internal/tekton"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

// renderedContract is the execution contract the chart renders with default values.
func renderedContract(t testing.TB, docs []manifest.Document) *execution.Contract {
	t.Helper()
	for _, d := range docs {
		if d.Kind() == "ConfigMap" && strings.HasSuffix(d.Name(), "-execution-contract") {
			var cm corev1.ConfigMap
			require.NoError(t, yaml.Unmarshal(d.YAML, &cm))
			c, err := execution.Parse(cm.Data)
			require.NoError(t, err)
			return c
		}
	}
	t.Fatal("no execution contract ConfigMap in the render")
	return nil
}

// actionParams picks an action's parameters from validParams.
func actionParams(a catalogue.Action, from map[string]string) map[string]string {
	out := map[string]string{}
	for _, p := range a.Parameters {
		out[p.Name] = from[p.Name]
	}
	return out
}

func jobFor(t testing.TB, c *execution.Contract, a catalogue.Action, params map[string]string) *batchv1.Job {
	t.Helper()
	name := "run-" + a.Name
	job, err := jobs.Build(c, a, jobs.Input{
		Name: name, ServiceAccount: runrbac.ServiceAccountName(c, a, params["namespace"], "Job", name),
		Parameters: actionParams(a, params), Target: params["target"], Run: params["run"], Approval: params["approval"], RunLabel: "r1",
	})
	require.NoError(t, err)
	return job
}

// Each action's Job runs the containers its Task's steps are, in the same order, with the same image,
// command, args and environment once Tekton has substituted the same run's params, the same mounts,
// securityContext and resources.
func TestJobsRunTheTaskSteps(t *testing.T) {
	docs := defaultRender(t)
	c := renderedContract(t, docs)
	rendered := tasks(t, docs)
	for _, a := range testenv.Catalogue(t).Actions {
		t.Run(a.Name, func(t *testing.T) {
			job := jobFor(t, c, a, validParams)
			pod := job.Spec.Template.Spec
			task := rendered[tekton.TaskName(a.Name)]
			merged, err := pipelinev1.MergeStepsWithStepTemplate(task.Spec.StepTemplate, task.Spec.Steps)
			require.NoError(t, err)
			containers := append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...)
			require.Len(t, containers, len(merged))
			require.Len(t, pod.Containers, 1)
			require.Equal(t, steps.Execute, pod.Containers[0].Name)
			values := withParams(actionParams(a, validParams), "target", validParams["target"], "run", "", "approval", "")
			sub := func(s string) string { return substituteParams(t, task.Name, s, values) }
			for i, step := range merged {
				want := step.ToK8sContainer()
				for j := range want.Args {
					want.Args[j] = sub(want.Args[j])
				}
				// Every container sees the policy gate's whole environment (the workloads admission policy
				// requires it): what the gate decided on is what the later containers get.
				wantEnv := map[string]string{}
				for _, e := range merged[0].ToK8sContainer().Env {
					wantEnv[e.Name] = sub(e.Value)
				}
				got := containers[i]
				gotEnv := map[string]string{}
				for _, e := range got.Env {
					require.NotContains(t, gotEnv, e.Name, "duplicate variable")
					gotEnv[e.Name] = e.Value
				}
				require.Equal(t, want.Name, got.Name)
				require.Equal(t, want.Image, got.Image)
				require.Equal(t, want.ImagePullPolicy, got.ImagePullPolicy)
				require.Equal(t, want.Command, got.Command)
				// The Job's argv refers to its environment, which the kubelet expands: expanded, it is the
				// Task's argv with Tekton's substitution.
				expanded := make([]string, len(got.Args))
				for j, arg := range got.Args {
					expanded[j] = envRef.ReplaceAllStringFunc(arg, func(ref string) string { return gotEnv[envRef.FindStringSubmatch(ref)[1]] })
				}
				require.Equal(t, want.Args, expanded)
				require.Equal(t, wantEnv, gotEnv)
				require.ElementsMatch(t, want.VolumeMounts, got.VolumeMounts)
				require.Equal(t, want.SecurityContext, got.SecurityContext)
				require.Equal(t, want.Resources, got.Resources)
			}
			require.Equal(t, int32(0), *job.Spec.BackoffLimit)
			require.Equal(t, c.RunRetentionSeconds, *job.Spec.TTLSecondsAfterFinished, "kept for the run budget's window")
			require.Equal(t, c.Namespace, job.Namespace)
			require.True(t, strings.HasPrefix(pod.ServiceAccountName, c.RunServiceAccountPrefix))
			for k, v := range c.ActionPodLabels {
				require.Equal(t, v, job.Spec.Template.Labels[k], "the action NetworkPolicy selects the pod")
			}
			require.Equal(t, c.PolicyConfigMap, pod.Volumes[0].ConfigMap.Name)
		})
	}
}

func jobDocuments(t testing.TB, jobsToCheck []*batchv1.Job) []manifest.Document {
	var out []manifest.Document
	for _, j := range jobsToCheck {
		data, err := yaml.Marshal(j)
		require.NoError(t, err)
		docs, err := manifest.Read("job "+j.Name, bytes.NewReader(data))
		require.NoError(t, err)
		out = append(out, docs...)
	}
	return out
}

// Every action's Job passes Pod Security restricted (the upstream evaluator) and the whole conformance
// suite of `kubernaut-execution check`, alongside the release it runs in; each check fails on a weakened Job.
func TestJobsPassPodSecurityAndCheck(t *testing.T) {
	docs := defaultRender(t)
	c := renderedContract(t, docs)
	var all []*batchv1.Job
	evaluator, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
	require.NoError(t, err)
	restricted := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	for _, a := range testenv.Catalogue(t).Actions {
		job := jobFor(t, c, a, validParams)
		res := psapolicy.AggregateCheckResults(evaluator.EvaluatePod(restricted, &job.Spec.Template.ObjectMeta, &job.Spec.Template.Spec))
		require.True(t, res.Allowed, "%s: %v %v", a.Name, res.ForbiddenReasons, res.ForbiddenDetails)
		all = append(all, job)
	}
	cs := checker(t, render.NewestKubernetes, false)
	require.Empty(t, violations(t, cs, append(docs, jobDocuments(t, all)...)))

	for _, tc := range []struct {
		name, rule string
		weaken     func(*corev1.PodSpec)
	}{
		{"privilege escalation", "pod-security", func(s *corev1.PodSpec) {
			s.InitContainers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
		}},
		{"no seccomp", "pod-security", func(s *corev1.PodSpec) {
			s.SecurityContext.SeccompProfile = nil
			s.InitContainers[1].SecurityContext.SeccompProfile = nil
		}},
		{"host network", "host-access", func(s *corev1.PodSpec) { s.HostNetwork = true }},
		{"latest image", "image-pinning", func(s *corev1.PodSpec) { s.Containers[0].Image = "registry.k8s.io/kubectl:latest" }},
		{"no resources", "resources", func(s *corev1.PodSpec) { s.InitContainers[0].Resources = corev1.ResourceRequirements{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := testenv.Catalogue(t).Action("scale-deployment")
			job := jobFor(t, c, a, validParams)
			tc.weaken(&job.Spec.Template.Spec)
			if tc.rule == "pod-security" {
				res := psapolicy.AggregateCheckResults(evaluator.EvaluatePod(restricted, &job.Spec.Template.ObjectMeta, &job.Spec.Template.Spec))
				require.False(t, res.Allowed)
			}
			got := violations(t, cs, append(docs, jobDocuments(t, []*batchv1.Job{job})...))
			require.NotEmpty(t, got)
			var rules []string
			for _, v := range got {
				require.Equal(t, "Job", v.Kind, v.String())
				rules = append(rules, v.Rule)
			}
			require.Contains(t, strings.Join(rules, ","), tc.rule)
		})
	}
}

func TestJobBuildRefusesBadInput(t *testing.T) {
	c := renderedContract(t, defaultRender(t))
	a, _ := testenv.Catalogue(t).Action("scale-deployment")
	ok := jobs.Input{Name: "run-1", ServiceAccount: c.RunServiceAccountPrefix + "run-1-x", Parameters: actionParams(a, validParams), Target: "{}"}
	_, err := jobs.Build(c, a, ok)
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		change func(*jobs.Input)
		want   string
	}{
		{"bad name", func(in *jobs.Input) { in.Name = "Run_1" }, `job name "Run_1"`},
		{"not a run ServiceAccount", func(in *jobs.Input) { in.ServiceAccount = "default" }, "not a per-run ServiceAccount"},
		{"missing parameter", func(in *jobs.Input) { delete(in.Parameters, "replicas") }, "missing parameter(s) [replicas]"},
		{"unknown parameter", func(in *jobs.Input) { in.Parameters["all"] = "true" }, "unknown parameter(s) [all]"},
		{"bad run label", func(in *jobs.Input) { in.RunLabel = "a b" }, `run label "a b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := ok
			in.Parameters = actionParams(a, validParams)
			tc.change(&in)
			_, err := jobs.Build(c, a, in)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// The Job's gate containers, run as the kubelet would (their command, args and environment, the policy
// ConfigMap mounted), end with the exit codes of the Task's gate steps on the same inputs.
func TestJobGatesEndLikeTheTaskSteps(t *testing.T) {
	docs := defaultRender(t)
	c := renderedContract(t, docs)
	rendered := tasks(t, docs)
	policies := policyFiles(t)
	a, _ := testenv.Catalogue(t).Action("scale-deployment")
	production := `{"environment":"production","labels":{},"currentReplicas":2}`
	for _, params := range []map[string]string{
		validParams,
		withParams(validParams, "replicas", "0", "target", production),
		withParams(validParams, "replicas", "50"),
		withParams(validParams, "replicas", "50", "approved", "true"),
		withParams(validParams, "replicas", "50", "run", "shop/scale", "approval", "scale"),
		withParams(validParams, "deployment", "--all"),
	} {
		job := jobFor(t, c, a, params)
		for i, step := range []string{steps.PolicyGate, steps.ApprovalGate} {
			wantCode, wantOut := runStep(t, rendered[tekton.TaskName(a.Name)], step, params, policies)
			gotCode, gotOut := runContainer(t, job.Spec.Template.Spec.InitContainers[i], policies)
			require.Equal(t, wantCode, gotCode, "%s %v\ntask: %s\njob: %s", step, params, wantOut, gotOut)
			require.Equal(t, wantOut, gotOut)
		}
	}
}

// runContainer runs a gate container's command with its environment and the policy files in dir.
func runContainer(t testing.TB, ctr corev1.Container, dir string) (int, string) {
	t.Helper()
	require.Equal(t, []string{"/opa"}, ctr.Command)
	bin, err := opaBinary()
	require.NoError(t, err)
	var args []string
	for _, a := range ctr.Args {
		args = append(args, localArg(a, dir))
	}
	var env []string
	for _, e := range ctr.Env {
		env = append(env, e.Name+"="+e.Value)
	}
	return runOPA(t, bin, args, env)
}

// actionJobName is the Job actionJob and withActionJob build.
const actionJobName = "run-scale-deployment"

// actionJob is the scale-deployment Job the controller would build from the execution contract in a
// render's objects, as an object; nil when the render has no contract. The render tests use it as
// "the action pod": the chart ships no pod template of its own (it would be a path without the gate).
// A contract that is there but unusable panics, failing the test, rather than dropping the Job from
// what the test checks.
func actionJob(objs map[string]object) object {
	var cm *corev1.ConfigMap
	for key, o := range objs {
		if strings.HasPrefix(key, "ConfigMap/") && strings.HasSuffix(key, "-execution-contract") {
			cm = &corev1.ConfigMap{}
			if err := decodeObject(o, cm); err != nil {
				panic(fmt.Sprintf("%s: %v", key, err))
			}
		}
	}
	if cm == nil {
		return nil
	}
	out, err := buildActionJob(cm.Data)
	if err != nil {
		panic(fmt.Sprintf("action Job from %s: %v", cm.Name, err))
	}
	return out
}

func decodeObject(from, to any) error {
	data, err := yaml.Marshal(from)
	if err != nil {
		return err
	}
	return yaml.Unmarshal(data, to)
}

func buildActionJob(data map[string]string) (object, error) {
	c, err := execution.Parse(data)
	if err != nil {
		return nil, err
	}
	cat, err := catalogue.Default()
	if err != nil {
		return nil, err
	}
	a, _ := cat.Action("scale-deployment")
	job, err := jobs.Build(c, a, jobs.Input{Name: actionJobName, ServiceAccount: runrbac.ServiceAccountName(c, a, "shop", "Job", actionJobName),
		Parameters: actionParams(a, validParams), Target: validParams["target"]})
	if err != nil {
		return nil, err
	}
	var o object
	return o, decodeObject(job, &o)
}

// withActionJob adds the scale-deployment Job to a render, as `kubernaut-execution check` sees a release with a run.
func withActionJob(t testing.TB, docs []manifest.Document) []manifest.Document {
	t.Helper()
	c := renderedContract(t, docs)
	a, _ := testenv.Catalogue(t).Action("scale-deployment")
	job := jobFor(t, c, a, validParams)
	job.Name = actionJobName
	return append(slices.Clone(docs), jobDocuments(t, []*batchv1.Job{job})...)
}
