console.log("agentcron")
