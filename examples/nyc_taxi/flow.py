"""The seed's complete NYC-taxi ML pipeline, with ``prefect`` replaced by ``tideflow``.

Changes from the published sample, and only these:

* ``prefect`` -> ``tideflow`` in the imports;
* ``import os`` added (the sample uses ``os.makedirs`` without importing it);
* ``root_mean_squared_error`` replaces ``mean_squared_error(..., squared=False)``, which
  current scikit-learn no longer has;
* the trip files are read from ``TRIP_DATA_URL``: the NYC TLC's CloudFront bucket
  in the original, here the environment variable ``NYC_TAXI_DATA_URL`` or, by default,
  the ``data/`` directory next to this file. Fill it with synthetic files first::

      python examples/nyc_taxi/make_data.py
      python examples/nyc_taxi/flow.py

  (``NYC_TAXI_DATA_URL=https://d37ci6vzurychx.cloudfront.net/trip-data`` reads the
  real data when there is network.)
"""

import os
import pickle
from datetime import datetime, timedelta

import pandas as pd
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LinearRegression
from sklearn.metrics import root_mean_squared_error

from tideflow import flow, task
from tideflow.deployments import Deployment
from tideflow.logging import get_run_logger
from tideflow.orion.schemas.schedules import CronSchedule
from tideflow.task_runners import SequentialTaskRunner

TRIP_DATA_URL = os.environ.get(
    "NYC_TAXI_DATA_URL", os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
)


# Data ingestion task with retries
@task(retries=3, retry_delay_seconds=5, name="download_taxi_data")
def get_data(date):
    """Download taxi data for given date range"""
    logger = get_run_logger()
    train_date = datetime.strptime(date, "%Y-%m-%d")
    val_date = train_date + timedelta(days=28)
    train_month = train_date.month
    val_month = val_date.month
    train_year = train_date.year
    val_year = val_date.year
    train_file = f"yellow_tripdata_{train_year}-{train_month:02d}.parquet"
    val_file = f"yellow_tripdata_{val_year}-{val_month:02d}.parquet"
    logger.info(f"Downloading training data: {train_file}")
    train_url = f"{TRIP_DATA_URL}/{train_file}"
    train_data = pd.read_parquet(train_url)
    logger.info(f"Downloading validation data: {val_file}")
    val_url = f"{TRIP_DATA_URL}/{val_file}"
    val_data = pd.read_parquet(val_url)
    return train_data, val_data


# Data preprocessing task
@task(name="prepare_taxi_features")
def prepare_features(df, categorical_features):
    """Prepare the features for training"""
    logger = get_run_logger()
    # Calculate trip duration
    df["duration"] = (df.tpep_dropoff_datetime - df.tpep_pickup_datetime).dt.total_seconds() / 60
    # Filter outliers
    logger.info(f"Initial shape: {df.shape}")
    df = df[(df.duration >= 1) & (df.duration <= 60)]
    logger.info(f"Filtered shape: {df.shape}")
    # Create features
    df["PU_DO"] = df["PULocationID"].astype(str) + "_" + df["DOLocationID"].astype(str)
    # Process categoricals
    df[categorical_features] = df[categorical_features].fillna(-1).astype("str")
    return df


# Model training task
@task(name="train_regression_model")
def train_model(df, categorical_features):
    """Train the model with the given data"""
    logger = get_run_logger()
    dicts = df[categorical_features].to_dict(orient="records")
    dv = DictVectorizer()
    X_train = dv.fit_transform(dicts)
    y_train = df["duration"].values
    logger.info(f"Training on {X_train.shape[0]} examples")
    lr = LinearRegression()
    lr.fit(X_train, y_train)
    return lr, dv


# Model evaluation task
@task(name="evaluate_model_performance")
def evaluate_model(model, dv, df, categorical_features):
    """Evaluate the model performance"""
    logger = get_run_logger()
    dicts = df[categorical_features].to_dict(orient="records")
    X_val = dv.transform(dicts)
    y_val = df["duration"].values
    y_pred = model.predict(X_val)
    rmse = root_mean_squared_error(y_val, y_pred)
    logger.info(f"RMSE: {rmse:.3f}")
    return rmse


# Model artifacts storage task
@task(name="save_model_artifacts")
def save_model(model, dv, date):
    """Save the model and DictVectorizer"""
    logger = get_run_logger()
    # Create directory if it doesn't exist
    os.makedirs("models", exist_ok=True)
    with open(f"models/model-{date}.pkl", "wb") as f:
        pickle.dump(model, f)
    with open(f"models/dv-{date}.pkl", "wb") as f:
        pickle.dump(dv, f)
    logger.info(f"Model saved: models/model-{date}.pkl")
    return True


# Main flow that orchestrates all tasks
@flow(name="taxi-duration-prediction", task_runner=SequentialTaskRunner())
def main(date=None):
    """Main flow for taxi duration prediction model training"""
    if date is None:
        date = datetime.today().strftime("%Y-%m-%d")
    logger = get_run_logger()
    logger.info(f"Starting training pipeline for date: {date}")
    categorical_features = ["PULocationID", "DOLocationID", "PU_DO"]
    # 1. Get data
    train_data, val_data = get_data(date)
    # 2. Process training data
    df_train = prepare_features(df=train_data, categorical_features=categorical_features)
    # 3. Train model
    model, dv = train_model(df=df_train, categorical_features=categorical_features)
    # 4. Process validation data
    df_val = prepare_features(df=val_data, categorical_features=categorical_features)
    # 5. Evaluate model
    rmse = evaluate_model(model=model, dv=dv, df=df_val, categorical_features=categorical_features)
    # 6. Save model
    save_model(model=model, dv=dv, date=date)
    logger.info("Pipeline completed successfully!")
    return rmse


# Define deployment for production
def create_deployment():
    return Deployment.build_from_flow(
        flow=main,
        name="nyc-taxi-monthly-training",
        schedule=CronSchedule("0 0 1 * *"),  # First day of each month at midnight
        tags=["production", "mlops", "taxi-duration"],
    )


# For local development/testing
if __name__ == "__main__":
    main("2023-01-01")
