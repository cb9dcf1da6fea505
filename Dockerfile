# The gateway image: one image for the HTTP node, the connector workers and the simulators.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
# Ministry services' WSDLs and the example config: partners.NAME.options.wsdl is relative to /app.
COPY contracts ./contracts
COPY deploy ./deploy
RUN pip install . && useradd --uid 10001 --no-create-home gateway
USER 10001
EXPOSE 8080
ENTRYPOINT ["gateway"]
CMD ["up"]
