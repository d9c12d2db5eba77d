package sqlstore

// Statements for the plan test (plan_test.go, package sqlstore_test).
var (
	CountTokensStmt           = countTokens
	FailingAgainStmt          = failingAgain
	ElementCountsStmt         = elementCounts
	NextJobDueStmt            = nextJobDue
	FindSubscriptionsStmt     = findSubscriptions
	DeleteStartJobsStmt       = deleteStartJobs
	CountStalledInstancesStmt = countStalledInstances
	UnpublishedStallsStmt     = unpublishedStalls
	PruneStallsStmt           = pruneStalls
	LatestDefinitionStmt      = latestDefinition
	DefinitionByVersionStmt   = definitionByVersion
	ListDefinitionsLatest     = listDefinitionsSQL + ` WHERE ` + latestOnlyCond
	GetUserByNameStmt         = getUserByName
	ListUsersStmt             = listUsers
	ListSessionsStmt          = listSessions
	DeleteUserSessionsStmt    = deleteUserSessions
	GetAPITokenByHashStmt     = getAPITokenByHash
	ListUserAPITokensStmt     = listUserAPITokens
)
