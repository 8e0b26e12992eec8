package tests

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jordigilh/kubernaut-execution/internal/render"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

const budgetQuota = "ResourceQuota/kubernaut-system/kubernaut-execution-run-budget"

// budgetRender renders a ci/ values file with the helm test hooks, as an install followed by `helm
// test` leaves the namespace, with extra values laid over it.
func budgetRender(t *testing.T, file string, extra map[string]any) map[string]object {
	t.Helper()
	vals := readValues(t, filepath.Join(chartDir, "ci", file))
	for k, v := range extra {
		vals[k] = v
	}
	docs, err := render.Render(mustChart(t), render.Options{Release: render.DefaultRelease, Namespace: render.DefaultNamespace,
		KubeVersion: render.NewestKubernetes, Values: vals, Tests: true})
	require.NoError(t, err)
	return objects(t, docs)
}

// namespaceServiceAccounts counts the ServiceAccounts a render puts in the release namespace, plus the
// namespace's default one, which Kubernetes makes.
func namespaceServiceAccounts(objs map[string]object) int {
	n := 1
	for key := range objs {
		if strings.HasPrefix(key, "ServiceAccount/"+render.DefaultNamespace+"/") {
			n++
		}
	}
	return n
}

// The run budget's ResourceQuota, for the values that change it: the runs at once on top of every
// ServiceAccount the chart keeps in the namespace (counted here from the whole render, so a template
// that adds one and is not counted by the quota fails), the runs per window for Jobs and, with Tekton
// only, TaskRuns and PipelineRuns.
func TestRunBudgetQuota(t *testing.T) {
	actions := len(testenv.Catalogue(t).Actions)
	for _, tc := range []struct {
		name, file string
		extra      map[string]any
		accounts   int // the chart's ServiceAccounts in the namespace, default included
		tekton     bool
	}{
		// default, the controller's and the helm test's
		{"defaults", "default-values.yaml", nil, 3, true},
		// plus one per action
		{"static mode", "static-values.yaml", nil, 3 + actions, true},
		{"tekton off", "tekton-off-values.yaml", nil, 3, false},
		// no helm test ServiceAccount without the NetworkPolicies it checks
		{"networkpolicies off", "networkpolicy-off-values.yaml", nil, 2, true},
		{"small budget", "default-values.yaml", map[string]any{"budget": map[string]any{"concurrentRuns": 2, "runsPerWindow": 7}}, 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := budgetRender(t, tc.file, tc.extra)
			quota := objs[budgetQuota]
			require.NotNil(t, quota, "no run budget")
			concurrent, runs := 20, 100
			if tc.extra != nil {
				concurrent, runs = 2, 7
			}
			require.Equal(t, tc.accounts, namespaceServiceAccounts(objs), "the ServiceAccounts the render holds")
			want := map[string]any{
				"count/serviceaccounts": fmt.Sprint(concurrent + tc.accounts),
				"count/jobs.batch":      fmt.Sprint(runs),
			}
			if tc.tekton {
				want["count/taskruns.tekton.dev"] = fmt.Sprint(runs)
				want["count/pipelineruns.tekton.dev"] = fmt.Sprint(runs)
			}
			require.Equal(t, want, get(quota, "spec", "hard"))
			require.Equal(t, "run-budget", get(quota, "metadata", "labels", "app.kubernetes.io/component"))
		})
	}
}

// On every values file of the matrix the quota leaves exactly concurrentRuns ServiceAccounts to runs:
// the chart's own, counted in the whole render, are what the template adds.
func TestRunBudgetCountsEveryChartServiceAccount(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	require.NoError(t, err)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			objs := budgetRender(t, filepath.Base(file), nil)
			concurrent := get(readValues(t, filepath.Join(chartDir, "values.yaml")), "budget", "concurrentRuns")
			require.Equal(t, fmt.Sprint(int(concurrent.(float64))+namespaceServiceAccounts(objs)), get(objs[budgetQuota], "spec", "hard", "count/serviceaccounts"),
				"the run budget does not count every ServiceAccount the chart puts in the release namespace: add the template that renders it to the list in templates/budget.yaml")
		})
	}
}

// The window reaches the Jobs through the execution contract, also with the budget off; the quota
// goes with the budget.
func TestRunBudgetWindowIsTheJobsRetention(t *testing.T) {
	for _, budget := range []map[string]any{{"windowSeconds": 600}, {"windowSeconds": 86400, "enabled": false}} {
		t.Run(fmt.Sprintf("window %v, budget off %v", budget["windowSeconds"], budget["enabled"] != nil), func(t *testing.T) {
			docs, err := renderWith(t, render.NewestKubernetes, map[string]any{"budget": budget,
				"networkPolicy": map[string]any{"apiServer": map[string]any{"cidrs": []any{"10.96.0.1/32"}}}})
			require.NoError(t, err)
			c := renderedContract(t, docs)
			require.EqualValues(t, budget["windowSeconds"], c.RunRetentionSeconds)
			a := testenv.Action(t, "scale-deployment")
			job := jobFor(t, c, a, validParams)
			require.EqualValues(t, budget["windowSeconds"], *job.Spec.TTLSecondsAfterFinished)
			_, quota := objects(t, docs)[budgetQuota]
			require.Equal(t, budget["enabled"] == nil, quota, "the quota is rendered with the budget on")
		})
	}
}
