package main

import (
	"github.com/revrx/revrx-supervise/broker"
	"github.com/revrx/revrx-supervise/pool"
	"github.com/revrx/revrx-supervise/supervisor"
)

// The concrete types satisfy the interfaces the supervisor declares.
var (
	_ supervisor.Queue     = (*broker.Redis)(nil)
	_ supervisor.Events    = brokerAdapter{}
	_ supervisor.Pool      = (*pool.Pool)(nil)
	_ supervisor.Resources = (*pool.Sampler)(nil)
)
