package grafana

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Grafana's provisioning files (apiVersion 1) and the docker-compose service
// that mounts them, with the fields they use.

type datasourcesFile struct {
	APIVersion  int `yaml:"apiVersion"`
	Datasources []struct {
		Name      string `yaml:"name"`
		Type      string `yaml:"type"`
		UID       string `yaml:"uid"`
		Access    string `yaml:"access"`
		URL       string `yaml:"url"`
		IsDefault bool   `yaml:"isDefault"`
		Editable  bool   `yaml:"editable"`
		JSONData  struct {
			TimeInterval string `yaml:"timeInterval"`
		} `yaml:"jsonData"`
	} `yaml:"datasources"`
}

type dashboardsFile struct {
	APIVersion int `yaml:"apiVersion"`
	Providers  []struct {
		Name                  string `yaml:"name"`
		Type                  string `yaml:"type"`
		Folder                string `yaml:"folder"`
		DisableDeletion       bool   `yaml:"disableDeletion"`
		AllowUIUpdates        bool   `yaml:"allowUiUpdates"`
		UpdateIntervalSeconds int    `yaml:"updateIntervalSeconds"`
		Options               struct {
			Path string `yaml:"path"`
		} `yaml:"options"`
	} `yaml:"providers"`
}

type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Ports       []string          `yaml:"ports"`
		Environment map[string]string `yaml:"environment"`
		ExtraHosts  []string          `yaml:"extra_hosts"`
		Volumes     []string          `yaml:"volumes"`
	} `yaml:"services"`
}

// decodeYAMLStrict decodes the one YAML document of file into v, failing on a
// field v does not model.
func decodeYAMLStrict(file string, v any) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if err := dec.Decode(new(any)); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: more than one document", file)
	}
	return nil
}

// TestProvisioning wants a Prometheus data source, a file provider, and a
// compose service that mounts the provisioning directory where Grafana reads
// it and the dashboard where the provider looks.
func TestProvisioning(t *testing.T) {
	var ds datasourcesFile
	if err := decodeYAMLStrict("provisioning/datasources/prometheus.yml", &ds); err != nil {
		t.Fatal(err)
	}
	if ds.APIVersion != 1 || len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].URL == "" {
		t.Errorf("datasources = %+v, want apiVersion 1 and one prometheus data source with a url", ds)
	}
	var dash dashboardsFile
	if err := decodeYAMLStrict("provisioning/dashboards/revrx-supervise.yml", &dash); err != nil {
		t.Fatal(err)
	}
	if dash.APIVersion != 1 || len(dash.Providers) != 1 || dash.Providers[0].Type != "file" || dash.Providers[0].Options.Path == "" {
		t.Fatalf("dashboard providers = %+v, want apiVersion 1 and one file provider with a path", dash)
	}
	var compose composeFile
	if err := decodeYAMLStrict("docker-compose.yml", &compose); err != nil {
		t.Fatal(err)
	}
	grafana, ok := compose.Services["grafana"]
	if !ok {
		t.Fatal("docker-compose.yml: no grafana service")
	}
	mounts := map[string]string{} // container path -> host path
	for _, v := range grafana.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 {
			t.Errorf("volume %q: want HOST:CONTAINER[:ro]", v)
			continue
		}
		if _, err := os.Stat(parts[0]); err != nil {
			t.Errorf("volume %q: %v", v, err)
		}
		mounts[parts[1]] = parts[0]
	}
	if mounts["/etc/grafana/provisioning"] != "./provisioning" {
		t.Errorf("volumes %v: ./provisioning is not mounted at /etc/grafana/provisioning", grafana.Volumes)
	}
	want := path.Join(dash.Providers[0].Options.Path, dashboardFile)
	if mounts[want] != "./"+dashboardFile {
		t.Errorf("volumes %v: ./%s is not mounted at %s, where the provider reads", grafana.Volumes, dashboardFile, want)
	}
	if url := ds.Datasources[0].URL; strings.HasPrefix(url, "$") && grafana.Environment[strings.Trim(url, "${}")] == "" {
		t.Errorf("data source url %s: not set in the grafana service's environment %v", url, grafana.Environment)
	}
}
