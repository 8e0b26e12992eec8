package generate

import (
	"fmt"

	"sigs.k8s.io/yaml"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/execution"
)

// contractFiles adds the chart files of the controller's contract: the release-independent part of
// the execution contract (label keys, steps and exit codes, catalogue digest), which
// templates/execution-contract.yaml completes with the release's names and images.
func contractFiles(cat *catalogue.Catalogue, chartFiles map[string][]byte) error {
	static, err := execution.Static(cat)
	if err != nil {
		return err
	}
	data, err := yaml.Marshal(static)
	if err != nil {
		return fmt.Errorf("execution contract: %w", err)
	}
	chartFiles[ContractFile] = append([]byte(yamlHeader), data...)
	return nil
}
