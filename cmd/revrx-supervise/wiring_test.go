package main

import (
	"github.com/revrx/revrx-supervise/supervisor"
)

// The adapters satisfy the interfaces the supervisor declares, the optional
// ones it finds by type assertion included.
var (
	_ supervisor.Queue            = brokerAdapter{}
	_ supervisor.Events           = brokerAdapter{}
	_ supervisor.QueueWatcher     = brokerAdapter{}
	_ supervisor.Restorer         = brokerAdapter{}
	_ supervisor.Pool             = poolAdapter{}
	_ supervisor.HostStater       = poolAdapter{}
	_ supervisor.ProcessPool      = engineAdapter{}
	_ supervisor.EngineStater     = engineAdapter{}
	_ supervisor.Resources        = sampler{}
	_ supervisor.UndecodedCounter = brokerAdapter{}
)
