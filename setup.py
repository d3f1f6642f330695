from setuptools import find_packages, setup

with open("README.md", encoding="utf-8") as f:
    LONG_DESCRIPTION = f.read()

setup(
    name="flask-servicecbv",
    version="0.1.0",
    description=(
        "Services with a life cycle for Flask class-based views: "
        "a layered app/blueprint registry, lazy per-request instances, "
        "and cleanup at teardown."
    ),
    long_description=LONG_DESCRIPTION,
    long_description_content_type="text/markdown",
    author="The flask_servicecbv developers",
    license="MIT",
    license_files=["LICENSE"],
    python_requires=">=3.10",
    packages=find_packages(include=["flask_servicecbv", "flask_servicecbv.*"]),
    package_data={"flask_servicecbv": ["py.typed"]},
    include_package_data=True,
    zip_safe=False,
    install_requires=[
        "Flask>=3.0",
        "Werkzeug>=3.0",
        "marshmallow>=4.0",
    ],
    extras_require={
        # The OpenAPI document of the REST views.
        "openapi": ["apispec>=6.6"],
        # flask_servicecbv.sqlalchemy: engine, connection and session
        # services, and a repository over a table.
        "sqlalchemy": ["SQLAlchemy>=2.0"],
    },
    classifiers=[
        "Development Status :: 3 - Alpha",
        "Environment :: Web Environment",
        "Framework :: Flask",
        "Intended Audience :: Developers",
        "Operating System :: OS Independent",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Topic :: Internet :: WWW/HTTP :: Dynamic Content",
        "Typing :: Typed",
    ],
)
