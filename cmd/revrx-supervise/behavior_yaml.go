package main

import (
	"bytes"
	"errors"
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// parseBehavior reads an HPA behavior block from YAML (or JSON), so a user
// can paste what they have: the block itself (scaleUp/scaleDown at the top),
// a document with a top-level `behavior:` key, or a whole
// HorizontalPodAutoscaler manifest (spec.behavior). Unknown fields inside
// the block are errors; fields left out take the HPA defaults.
func parseBehavior(data []byte) (policy.Behavior, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return policy.Behavior{}, fmt.Errorf("behavior: %w", err)
	}
	if len(doc.Content) == 0 {
		return policy.Behavior{}, errors.New("behavior: empty document")
	}
	node := doc.Content[0]
	if spec := yamlChild(node, "spec"); spec != nil {
		if node = yamlChild(spec, "behavior"); node == nil {
			return policy.Behavior{}, errors.New("behavior: the manifest has no spec.behavior")
		}
	} else if b := yamlChild(node, "behavior"); b != nil {
		node = b
	}
	out, err := yaml.Marshal(node)
	if err != nil {
		return policy.Behavior{}, fmt.Errorf("behavior: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(out))
	dec.KnownFields(true)
	var b policy.Behavior
	if err := dec.Decode(&b); err != nil {
		return policy.Behavior{}, fmt.Errorf("behavior: %w (accepted: scaleUp/scaleDown with stabilizationWindowSeconds, selectPolicy, policies)", err)
	}
	b = b.WithDefaults()
	return b, b.Validate()
}

// yamlChild returns the value of key in a YAML mapping node, or nil.
func yamlChild(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
