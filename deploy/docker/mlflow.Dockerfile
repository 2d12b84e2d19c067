# `mlflow server` with the PostgreSQL driver, at the versions runnotary is tested against.
FROM python:3.11.11-slim-bookworm
RUN pip install --no-cache-dir mlflow==3.17.2 psycopg[binary]==3.3.9 gunicorn==26.2.0 boto3==1.35.99 \
    && useradd --create-home --uid 10001 mlflow
USER mlflow
EXPOSE 5000
ENTRYPOINT ["mlflow", "server"]
