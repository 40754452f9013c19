package events

// Celery event types the Tracker understands. Others pass through it
// unchanged.
const (
	TaskSent      = "task-sent"
	TaskReceived  = "task-received"
	TaskStarted   = "task-started"
	TaskSucceeded = "task-succeeded"
	TaskFailed    = "task-failed"
	TaskRetried   = "task-retried"
	TaskRevoked   = "task-revoked"
	TaskRejected  = "task-rejected"
	WorkerOnline  = "worker-online"
	WorkerBeat    = "worker-heartbeat"
	WorkerOffline = "worker-offline"
)

// Event is one decoded Celery event, with the fields the supervisor uses.
// A broker decodes it from its own wire format (broker.DecodeMessage for
// Redis); the fields mean what Celery's event of that type says.
type Event struct {
	Type      string  // TaskReceived, TaskStarted, ..., WorkerOffline, or any other Celery event type
	Hostname  string  // worker node name, e.g. "worker3@vm"
	UUID      string  // task id (task events)
	Timestamp float64 // the sender's time.time(), unix seconds
	PID       int     // the worker's main process
	Active    int     // worker-heartbeat: number of active (running) tasks
	Freq      float64 // heartbeat frequency, seconds
	Runtime   float64 // task-succeeded, seconds
	ETA       string  // task-received; "" when none
	Name      string  // task name (task-received, task-sent)
	Queue     string  // the queue it was sent to (task-sent)
}
