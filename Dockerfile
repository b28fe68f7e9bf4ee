FROM python:3.11-slim
WORKDIR /srv/promobridge
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md celeryconfig.py ./
COPY app ./app
COPY workers ./workers
COPY tasks ./tasks
COPY simulator ./simulator
COPY benchmarks ./benchmarks
RUN pip install --no-cache-dir .
USER nobody
EXPOSE 8000
CMD ["promobridge", "web", "--host", "0.0.0.0", "--port", "8000"]
