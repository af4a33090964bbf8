ENGINE_NAME = "sql"
def register_engine(): pass
