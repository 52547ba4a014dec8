"""The classic FastAPI + scikit-learn model service, as the well-known tutorials write it.

It is the comparison point of `npm run bench`: one process, the model fitted once at startup
(the tutorials load a pickled model at import time; fitting 100 rows takes the same place), and
POST /predict running model.predict on the request's instances. Same job as models/linear: one
feature, y = 3x + 2 + noise.

Run: python3 scripts/baseline/fastapi_sklearn.py <port>   (Debian: python3-fastapi python3-uvicorn python3-sklearn)
"""
import sys
from typing import List

import numpy as np
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from sklearn.linear_model import LinearRegression

rng = np.random.default_rng(42)
X = rng.random((100, 1))
y = 3 * X[:, 0] + 2 + rng.normal(0, 0.1, 100)
model = LinearRegression().fit(X, y)

app = FastAPI()


class PredictRequest(BaseModel):
    instances: List[List[float]]
    model: str = "linear"


@app.post("/predict")
def predict(request: PredictRequest):
    predictions = model.predict(np.array(request.instances))
    return {"model": "linear", "version": 1, "predictions": [[float(p)] for p in predictions]}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
